namespace Veil.Cli;

/// <summary>
/// What the CLI reads from and writes to outside its arguments: standard streams, environment
/// variables and the clock. The console in production; captured writers and a private
/// environment (HOME, XDG_CONFIG_HOME, VEIL_SERVER) in tests.
/// </summary>
public sealed class CliContext
{
    public required TextWriter Out { get; init; }

    public required TextWriter Error { get; init; }

    public required TextReader In { get; init; }

    /// <summary>Reads an environment variable (null when unset).</summary>
    public required Func<string, string?> Environment { get; init; }

    /// <summary>True when standard error is a terminal: progress lines are shown only then.</summary>
    public bool ErrorIsTerminal { get; init; }

    /// <summary>True when standard input is a terminal: then a password can be prompted for.</summary>
    public bool InputIsTerminal { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public static CliContext FromConsole() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        In = Console.In,
        Environment = System.Environment.GetEnvironmentVariable,
        ErrorIsTerminal = !Console.IsErrorRedirected,
        InputIsTerminal = !Console.IsInputRedirected,
    };
}
