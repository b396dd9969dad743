namespace Veil.Cli;

/// <summary>The process exit codes (docs/cli.md#exit-codes).</summary>
public static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>The server refused the request, or it could not be reached.</summary>
    public const int Error = 1;

    /// <summary>Bad arguments or a bad veil.yaml: nothing was sent.</summary>
    public const int Usage = 2;

    /// <summary><c>apply --dry-run --exit-code</c> found changes to make.</summary>
    public const int Drift = 3;
}

/// <summary>An invocation or input file the user must fix; exits with <see cref="ExitCodes.Usage"/>.</summary>
public sealed class UsageException(string message) : Exception(message);
