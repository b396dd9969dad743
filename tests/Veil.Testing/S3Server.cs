using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Xml.Linq;

namespace Veil.Testing;

/// <summary>
/// A real S3-compatible server (<c>s3rver</c> from npm, pinned by
/// <c>tests/tools/s3rver/package-lock.json</c>) on a free loopback port with its own temporary
/// folder, killed on dispose. Needs <c>node</c> and <c>npm</c> on PATH (.ci/run installs them);
/// <c>node_modules</c> comes from <c>npm ci</c> (.ci/run and the test projects' build run it;
/// started here too when missing). Objects can be read back without signing: s3rver serves
/// anonymous reads.
/// </summary>
public sealed class S3Server : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    private readonly string _directory;
    private readonly HttpClient _http;
    private Process? _process;
    private readonly List<string> _output = [];

    private S3Server(int port, string directory)
    {
        Port = port;
        _directory = directory;
        _http = new HttpClient { BaseAddress = new Uri(ServiceUrl), Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>Where the server's package lives: tests/tools/s3rver.</summary>
    public static string ToolDirectory { get; } = Path.Combine(RepositoryRoot.Path, "tests", "tools", "s3rver");

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The endpoint for an S3 client (path-style addressing: <c>ForcePathStyle</c>).</summary>
    public string ServiceUrl => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>s3rver's fixed access key id.</summary>
    public const string AccessKey = "S3RVER";

    /// <summary>s3rver's fixed secret key.</summary>
    public const string SecretKey = "S3RVER";

    /// <summary>Any region signs for s3rver.</summary>
    public const string Region = "us-east-1";

    /// <summary>Starts a server with <paramref name="buckets"/> created, and waits until it answers.</summary>
    public static async Task<S3Server> StartAsync(IEnumerable<string> buckets, CancellationToken cancellationToken = default)
    {
        await EnsureInstalledAsync(cancellationToken);
        var server = new S3Server(FreePort.Next(), Directory.CreateTempSubdirectory("veil-s3rver-").FullName);
        await server.LaunchAsync(buckets, cancellationToken);
        return server;
    }

    /// <summary>The keys under <paramref name="prefix"/> with their ETag and last-modified time, in key order.</summary>
    public async Task<IReadOnlyList<(string Key, string ETag, DateTimeOffset LastModified)>> ListAsync(string bucket, string prefix, CancellationToken cancellationToken = default)
    {
        var objects = new List<(string, string, DateTimeOffset)>();
        string? token = null;
        do
        {
            var query = $"/{bucket}?list-type=2&prefix={Uri.EscapeDataString(prefix)}" + (token is null ? "" : "&continuation-token=" + Uri.EscapeDataString(token));
            var xml = XDocument.Parse(await _http.GetStringAsync(query, cancellationToken));
            // By local name: s3rver's namespace is not S3's.
            foreach (var item in Children(xml.Root!, "Contents"))
            {
                objects.Add((Child(item, "Key"), Child(item, "ETag").Trim('"'), DateTimeOffset.Parse(Child(item, "LastModified"), CultureInfo.InvariantCulture)));
            }
            token = Children(xml.Root!, "IsTruncated").FirstOrDefault()?.Value == "true" ? Child(xml.Root!, "NextContinuationToken") : null;
        }
        while (token is not null);
        return objects;
    }

    private static IEnumerable<XElement> Children(XElement parent, string name) => parent.Elements().Where(e => e.Name.LocalName == name);

    private static string Child(XElement parent, string name) => Children(parent, name).Single().Value;

    /// <summary>One object's bytes as text, or null when there is none.</summary>
    public async Task<string?> GetTextAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync($"/{bucket}/{key}", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    /// <summary>
    /// Runs <c>npm ci</c> in <see cref="ToolDirectory"/> when its node_modules is missing. npm
    /// installs exactly what package-lock.json pins, from the configured registry.
    /// </summary>
    private static async Task EnsureInstalledAsync(CancellationToken cancellationToken)
    {
        await InstallGate.WaitAsync(cancellationToken);
        try
        {
            if (File.Exists(ServerScript))
            {
                return;
            }
            var npm = FindExecutable("npm");
            var start = new ProcessStartInfo(npm, ["ci", "--no-audit", "--no-fund"])
            {
                WorkingDirectory = ToolDirectory,
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start) ?? throw new InvalidOperationException("npm did not start.");
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(InstallTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"npm ci in {ToolDirectory} did not finish within {InstallTimeout}.");
            }
            if (process.ExitCode != 0 || !File.Exists(ServerScript))
            {
                throw new InvalidOperationException(
                    $"npm ci in {ToolDirectory} failed (exit {process.ExitCode}); run it by hand to see why.\n{await stdout}\n{await stderr}");
            }
        }
        finally
        {
            InstallGate.Release();
        }
    }

    private static string ServerScript => Path.Combine(ToolDirectory, "node_modules", "s3rver", "bin", "s3rver.js");

    private async Task LaunchAsync(IEnumerable<string> buckets, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(FindExecutable("node"))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        start.ArgumentList.Add(ServerScript);
        foreach (var argument in new[] { "--directory", _directory, "--address", "127.0.0.1", "--port", Port.ToString(CultureInfo.InvariantCulture), "--silent" })
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var bucket in buckets)
        {
            start.ArgumentList.Add("--configure-bucket");
            start.ArgumentList.Add(bucket);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start s3rver.");
        // Drain the pipes (a full pipe would block the server) and keep the text for errors.
        _process.OutputDataReceived += (_, e) => Remember(e.Data);
        _process.ErrorDataReceived += (_, e) => Remember(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        try
        {
            // ListBuckets answers once the server listens and the buckets exist.
            while (!await AnswersAsync(buckets, timeout.Token))
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"s3rver exited with code {_process.ExitCode}: {Output()}");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(50), timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Kill();
            throw new TimeoutException($"s3rver on port {Port} did not answer within {StartTimeout}: {Output()}");
        }
    }

    private async Task<bool> AnswersAsync(IEnumerable<string> buckets, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync("/", cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return response.IsSuccessStatusCode && buckets.All(b => body.Contains($"<Name>{b}</Name>", StringComparison.Ordinal));
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            if (_output.Count < 200)
            {
                _output.Add(line);
            }
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.Count == 0 ? "(no output)" : string.Join('\n', _output);
        }
    }

    private static string FindExecutable(string name)
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"{name} is not on PATH. Install Node.js and npm (Debian: apt-get install -y nodejs npm); .ci/run does.");
    }

    private void Kill()
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
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _http.Dispose();
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
