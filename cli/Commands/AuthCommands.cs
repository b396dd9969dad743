using System.CommandLine;
using System.Text;
using Veil.Cli.Http;

namespace Veil.Cli.Commands;

/// <summary><c>veil login</c> and <c>veil logout</c>.</summary>
public static class AuthCommands
{
    public static Command Login(Runner run)
    {
        var email = new Option<string>("--email") { Description = "The account's sign-in email.", Required = true };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from standard input (first line) instead of prompting." };
        var command = new Command("login", "Sign in and keep the session in the user profile (credentials.json, mode 0600).") { email, passwordStdin };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var password = parse.GetValue(passwordStdin)
                ? (await session.Context.In.ReadLineAsync(ct))?.TrimEnd('\r', '\n')
                : Prompt(session.Context);
            if (string.IsNullOrEmpty(password))
            {
                throw new UsageException("No password given (type it at the prompt, or pipe it with --password-stdin).");
            }
            var answer = await session.Client.SignInAsync(parse.GetValue(email)!, password, ct);
            session.Output.Write(answer["account"], () =>
                session.Output.Out.WriteLine($"Signed in to {session.Client.Server} as {Output.Text(answer["account"]?["email"])} ({Output.Enum(answer["account"]?["role"], "ROLE_")}); session saved in {session.Store.Path}."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command Logout(Runner run)
    {
        var command = new Command("logout", "Sign out on the server and delete the stored session.");
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            if (session.Client.Credentials is null)
            {
                var removed = session.Store.Delete();
                session.Output.Out.WriteLine(removed ? $"Not signed in to {session.Client.Server}; removed {session.Store.Path}." : "Not signed in.");
                return ExitCodes.Ok;
            }
            try
            {
                await session.Client.SignOutAsync(ct);
            }
            catch (VeilApiException e) when (e.Status is 400 or 401 or 404)
            {
                // The session had already ended on the server (expired, revoked): nothing to end there.
            }
            // Network failures and 5xx keep the file: the refresh token is still live on the server
            // and `veil logout` must be able to end it once the server answers.
            session.Store.Delete();
            session.Output.Out.WriteLine($"Signed out of {session.Client.Server}; removed {session.Store.Path}.");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static string? Prompt(CliContext context)
    {
        if (!context.InputIsTerminal)
        {
            throw new UsageException("Standard input is not a terminal: pass the password with --password-stdin.");
        }
        context.Error.Write("Password: ");
        var password = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                if (password.Length > 0)
                {
                    password.Length--;
                }
                continue;
            }
            password.Append(key.KeyChar);
        }
        context.Error.WriteLine();
        return password.ToString();
    }
}
