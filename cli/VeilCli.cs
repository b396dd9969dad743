using System.CommandLine;
using System.Net.Sockets;
using Veil.Cli.Commands;
using Veil.Cli.Http;

namespace Veil.Cli;

/// <summary>The <c>veil</c> command tree, its global options, and the exit-code rules.</summary>
public static class VeilCli
{
    /// <summary>The server when neither --server, VEIL_SERVER nor a login names one.</summary>
    public const string DefaultServer = "http://localhost:8080";

    /// <summary>Runs one invocation and returns its exit code (docs/cli.md#exit-codes).</summary>
    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken ct = default)
    {
        var globals = new GlobalOptions();
        var root = new RootCommand("Veil from the command line: sign in, publish and manage APIs, plans and keys, apply a veil.yaml.")
        {
            globals.Server,
            globals.Output,
        };
        var run = new Runner(globals, context);
        root.Subcommands.Add(AuthCommands.Login(run));
        root.Subcommands.Add(AuthCommands.Logout(run));
        root.Subcommands.Add(ApiCommands.Build(run));
        root.Subcommands.Add(PlanCommands.Build(run));
        root.Subcommands.Add(KeyCommands.Build(run));
        root.Subcommands.Add(AccountCommands.Usage(run));
        root.Subcommands.Add(AccountCommands.Invoices(run));
        root.Subcommands.Add(ApplyCommands.Apply(run));
        root.Subcommands.Add(ApplyCommands.Export(run));

        var parsed = root.Parse(args);
        var code = await parsed.InvokeAsync(new InvocationConfiguration
        {
            Output = context.Out,
            Error = context.Error,
            // Each action handles its own failures (Runner); anything else is a bug worth its trace.
            EnableDefaultExceptionHandler = true,
        }, ct);
        // System.CommandLine answers parse errors with 1; usage errors are 2 here.
        return parsed.Errors.Count > 0 ? ExitCodes.Usage : code;
    }
}

/// <summary>Options every command accepts.</summary>
public sealed class GlobalOptions
{
    public Option<string?> Server { get; } = new("--server")
    {
        Description = $"The edge's base URL (default: $VEIL_SERVER, else the server of `veil login`, else {VeilCli.DefaultServer}).",
        Recursive = true,
    };

    public Option<string> Output { get; } = CreateOutput();

    private static Option<string> CreateOutput()
    {
        var option = new Option<string>("--output")
        {
            Description = "Output format: table (for people) or json (the server's objects, for scripts).",
            Recursive = true,
            DefaultValueFactory = _ => "table",
        };
        option.AcceptOnlyFromAmong("table", "json");
        return option;
    }
}

/// <summary>
/// Runs a command's body with its session (server, client, output) and maps failures to exit
/// codes: usage problems 2, server answers and network failures 1, each printed on stderr.
/// </summary>
public sealed class Runner(GlobalOptions globals, CliContext context)
{
    public CliContext Context { get; } = context;

    public Func<ParseResult, CancellationToken, Task<int>> Action(Func<Session, ParseResult, CancellationToken, Task<int>> body) =>
        async (parse, ct) =>
        {
            var output = new Output(Context, parse.GetValue(globals.Output) == "json");
            try
            {
                using var session = Open(parse, output);
                return await body(session, parse, ct);
            }
            catch (UsageException e)
            {
                output.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.Usage;
            }
            catch (VeilApiException e)
            {
                output.Problem(e);
                return ExitCodes.Error;
            }
            catch (Exception e) when (e is NotSignedInException or CommandFailedException)
            {
                output.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.Error;
            }
            catch (HttpRequestException e)
            {
                var reason = e.InnerException is SocketException socket ? socket.Message : e.Message;
                output.Error.WriteLine($"error: cannot reach {ServerOf(parse)}: {reason}");
                return ExitCodes.Error;
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                output.Error.WriteLine($"error: {ServerOf(parse)} did not answer in time.");
                return ExitCodes.Error;
            }
        };

    private Session Open(ParseResult parse, Output output)
    {
        var store = CredentialStore.For(Context.Environment);
        var server = VeilClient.Normalize(ServerOf(parse, store));
        return new Session(Context, output, new VeilClient(server, store, Context.Time), store);
    }

    private string ServerOf(ParseResult parse, CredentialStore? store = null)
    {
        var explicitServer = parse.GetValue(globals.Server);
        if (!string.IsNullOrWhiteSpace(explicitServer))
        {
            return explicitServer;
        }
        var fromEnvironment = Context.Environment("VEIL_SERVER");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment;
        }
        return (store ?? CredentialStore.For(Context.Environment)).Load()?.Server ?? VeilCli.DefaultServer;
    }
}

/// <summary>One command's view of the world: where to send requests, and where to print.</summary>
public sealed class Session(CliContext context, Output output, VeilClient client, CredentialStore store) : IDisposable
{
    public CliContext Context { get; } = context;

    public Output Output { get; } = output;

    public VeilClient Client { get; } = client;

    public CredentialStore Store { get; } = store;

    public void Dispose() => Client.Dispose();
}
