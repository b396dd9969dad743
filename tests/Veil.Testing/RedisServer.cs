using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Veil.Testing;

/// <summary>
/// A real <c>redis-server</c> (from PATH; Debian package <c>redis-server</c>) on a free loopback
/// port, with no persistence and its own temporary folder, killed on dispose. Tests can kill,
/// restart, pause (SIGSTOP: the socket stays open, nothing answers) and resume it.
/// Also starts a Sentinel watching it, for tests of the Sentinel configuration.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    // Linux signal numbers (x86-64 and arm64); the test machines are Linux.
    private const int SigCont = 18;
    private const int SigStop = 19;

    private readonly string _directory;
    private readonly string[] _arguments;
    private Process? _process;
    private bool _paused;

    private RedisServer(int port, string directory, string[] arguments)
    {
        Port = port;
        _directory = directory;
        _arguments = arguments;
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis configuration string for this server.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Whether the process is running (paused counts as running).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts a server on a free port and waits until it answers PING.</summary>
    public static async Task<RedisServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var port = FreePort.Next();
        var directory = Directory.CreateTempSubdirectory("veil-redis-").FullName;
        var server = new RedisServer(port, directory,
        [
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", directory,
            "--logfile", Path.Combine(directory, "redis.log"),
        ]);
        await server.LaunchAsync(cancellationToken);
        return server;
    }

    /// <summary>
    /// Starts a Sentinel on a free port that monitors this server as <paramref name="serviceName"/>
    /// (quorum 1), and waits until it knows the master.
    /// </summary>
    public async Task<RedisServer> StartSentinelAsync(string serviceName, CancellationToken cancellationToken = default)
    {
        var port = FreePort.Next();
        var directory = Directory.CreateTempSubdirectory("veil-sentinel-").FullName;
        // Sentinel rewrites its configuration file, so it needs one of its own.
        var config = Path.Combine(directory, "sentinel.conf");
        await File.WriteAllTextAsync(config, $"""
            port {port}
            bind 127.0.0.1
            dir {directory}
            logfile {Path.Combine(directory, "sentinel.log")}
            sentinel monitor {serviceName} 127.0.0.1 {Port} 1
            sentinel down-after-milliseconds {serviceName} 5000
            """, cancellationToken);
        var sentinel = new RedisServer(port, directory, [config, "--sentinel"]);
        await sentinel.LaunchAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        while (!(await sentinel.TryCommandAsync($"SENTINEL get-master-addr-by-name {serviceName}", timeout.Token) ?? "").Contains(Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), timeout.Token);
        }
        return sentinel;
    }

    /// <summary>Kills the process at once (SIGKILL); clients see the connection drop.</summary>
    public void Kill()
    {
        if (_process is null)
        {
            return;
        }
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
        _process = null;
        _paused = false;
    }

    /// <summary>Kills the server if it runs and starts a fresh, empty one on the same port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        Kill();
        await LaunchAsync(cancellationToken);
    }

    /// <summary>Freezes the process (SIGSTOP): connections stay open but nothing is answered.</summary>
    public void Pause()
    {
        Signal(SigStop);
        _paused = true;
    }

    /// <summary>Thaws a paused process (SIGCONT); queued commands are answered.</summary>
    public void Resume()
    {
        Signal(SigCont);
        _paused = false;
    }

    /// <summary>Sends one inline command and returns the raw reply, or null when the server does not answer.</summary>
    public async Task<string?> TryCommandAsync(string command, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), timeout.Token);
            var buffer = new byte[4096];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return read > 0 ? Encoding.ASCII.GetString(buffer, 0, read) : null;
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task LaunchAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(FindExecutable())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        foreach (var argument in _arguments)
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        // Drain the pipes so a chatty server can never block on a full pipe.
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        try
        {
            while ((await TryCommandAsync("PING", timeout.Token))?.StartsWith("+PONG", StringComparison.Ordinal) != true)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode}: {ReadLog()}");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(20), timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Kill();
            throw new TimeoutException($"redis-server on port {Port} did not answer PING within {StartTimeout}: {ReadLog()}");
        }
    }

    private string ReadLog()
    {
        var log = Directory.EnumerateFiles(_directory, "*.log").FirstOrDefault();
        return log is null ? "(no log)" : File.ReadAllText(log);
    }

    private static string FindExecutable()
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException("redis-server is not on PATH. Install it (Debian: apt-get install -y redis-server); .ci/run does.");
    }

    private void Signal(int signal)
    {
        if (_process is not { HasExited: false } process)
        {
            throw new InvalidOperationException("redis-server is not running.");
        }
        if (SendSignal(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public ValueTask DisposeAsync()
    {
        if (_paused && IsRunning)
        {
            Resume();
        }
        Kill();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // The OS temp folder is cleaned anyway.
        }
        return ValueTask.CompletedTask;
    }
}
