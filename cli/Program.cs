using Veil.Cli;

// `veil`: the provider's command line for Veil (docs/cli.md). Everything lives in VeilCli so tests
// can run the same entry point in-process with their own output, input and environment.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
return await VeilCli.RunAsync(args, CliContext.FromConsole(), cancel.Token);
