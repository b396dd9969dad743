using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Veil.Catalog.Grpc;
using Veil.Identity.Grpc;
using Veil.Subscriptions.Grpc;
using Veil.Testing;
using Veil.Usage.Grpc;
using Veil.Usage.V1;

namespace Veil.Edge.Tests;

/// <summary>
/// Real identity, catalog, subscriptions and usage hosts (own SQLite folders), a real echo upstream
/// and one in-process edge metering into that usage. Tests that need a usage outage or a killed edge
/// start their own usage host or edge process against the same control plane.
/// </summary>
public sealed class UsageFixture : IAsyncLifetime
{
    public ControlPlane ControlPlane { get; } = new();
    public ServiceHost<IdentityGrpcService> Identity => ControlPlane.Identity;
    public ServiceHost<CatalogGrpcService> Catalog => ControlPlane.Catalog;
    public ServiceHost<SubscriptionsGrpcService> Subscriptions => ControlPlane.Subscriptions;
    public ServiceHost<UsageGrpcService> Usage { get; } = new();
    public ServiceHost<EdgeOptions> Edge { get; } = new();
    public EchoUpstream Upstream { get; private set; } = null!;
    private GrpcChannel _usageChannel = null!;

    public string Authority => ControlPlane.Authority;

    public async ValueTask InitializeAsync()
    {
        Upstream = await EchoUpstream.StartAsync(TestContext.Current.CancellationToken);
        ControlPlane.Start();
        ConfigureUsage(Usage).Start();
        // Usage's REST too, so that /v1/usage/… (the call log) is reachable through this edge.
        Wire(Edge, Usage.GrpcUrl).With("services:usage:http:0", Usage.HttpUrl.ToString()).Start();
        _usageChannel = Usage.CreateGrpcChannel();
    }

    /// <summary>Usage settings shared by every usage host of these tests.</summary>
    public ServiceHost<UsageGrpcService> ConfigureUsage(ServiceHost<UsageGrpcService> usage) => usage
        .With("Veil:Auth:Authority", Authority)
        .With("services:identity:http:0", Authority);

    /// <summary>Points an in-process edge at the control plane and at the usage service on <paramref name="usageGrpc"/>.</summary>
    public ServiceHost<EdgeOptions> Wire(ServiceHost<EdgeOptions> edge, Uri usageGrpc)
    {
        foreach (var (key, value) in EdgeSettings(usageGrpc))
        {
            edge.With(key.Replace("__", ":", StringComparison.Ordinal), value);
        }
        return edge;
    }

    /// <summary>The edge's configuration as environment variables (for an edge child process).</summary>
    public Dictionary<string, string> EdgeSettings(Uri usageGrpc) => new(ControlPlane.Endpoints().Select(e =>
        KeyValuePair.Create(e.Key.Replace(":", "__", StringComparison.Ordinal), e.Value)))
    {
        ["services__usage__grpc__0"] = usageGrpc.ToString(),
        // Retry quickly once usage is back, so the tests' bounds stay short.
        ["Edge__Usage__ShipBackoffMax"] = "00:00:00.500",
        ["Edge__Usage__QuotaWatchBackoffMax"] = "00:00:00.500",
        // Rate limiting has its own tests; here every 429 must come from the quota step.
        ["Edge__RateLimiting__Enabled"] = "false",
        // The echo upstream listens on loopback, which the SSRF guard would refuse.
        ["Edge__AllowPrivateUpstreams"] = "true",
    };

    public async ValueTask DisposeAsync()
    {
        _usageChannel.Dispose();
        await Edge.DisposeAsync();
        await Usage.DisposeAsync();
        await ControlPlane.DisposeAsync();
        await Upstream.DisposeAsync();
    }

    /// <summary>A provider publishes an API on the echo upstream with one plan of the given terms.</summary>
    public Task<PublishedApi> PublishApiAsync(long monthlyQuota = 0, bool overageAllowed = false, long pricePerCallMinor = 0) =>
        PublishApiAsync(Edge, Upstream.Url, monthlyQuota, overageAllowed, pricePerCallMinor);

    /// <summary>The same through <paramref name="edge"/>, on <paramref name="upstream"/>.</summary>
    public static async Task<PublishedApi> PublishApiAsync(ServiceHost<EdgeOptions> edge, Uri upstream, long monthlyQuota = 0, bool overageAllowed = false,
        long pricePerCallMinor = 0)
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = edge.CreateRestClient();
        var provider = await SignUpAsync(http, "PROVIDER");
        var slug = "metered-" + Guid.NewGuid().ToString("N")[..12];
        var api = await EdgeFixture.PostAsync(http, "v1/apis", provider.Token,
            new { slug, name = "Echo " + slug, upstreamUrl = upstream.ToString(), timeoutMs = 5000 }, ct);
        var apiId = api["api"]!["id"]!.GetValue<string>();
        var plan = await EdgeFixture.PostAsync(http, "v1/plans", provider.Token, new
        {
            apiId, name = "Metered", requestsPerSecond = 100_000, burst = 100_000,
            monthlyQuota, overageAllowed, pricePerCallMinor, currency = "USD",
        }, ct);
        return new PublishedApi(apiId, slug, plan["plan"]!["id"]!.GetValue<string>(), provider);
    }

    /// <summary>A consumer signs up, subscribes to <paramref name="planId"/> (unless null) and creates a key.</summary>
    public Task<Consumer> ConsumerAsync(string? planId) => ConsumerAsync(Edge, planId);

    /// <summary>The same through <paramref name="edge"/>.</summary>
    public static async Task<Consumer> ConsumerAsync(ServiceHost<EdgeOptions> edge, string? planId)
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = edge.CreateRestClient();
        var account = await SignUpAsync(http, "CONSUMER");
        string? subscriptionId = null;
        if (planId is not null)
        {
            var subscription = await EdgeFixture.PostAsync(http, "v1/subscriptions", account.Token, new { planId }, ct);
            subscriptionId = subscription["subscription"]!["id"]!.GetValue<string>();
        }
        var key = await EdgeFixture.PostAsync(http, "v1/keys", account.Token, new { name = "test" }, ct);
        return new Consumer(account, subscriptionId, key["apiKey"]!["id"]!.GetValue<string>(), key["key"]!.GetValue<string>());
    }

    public static async Task<Account> SignUpAsync(HttpClient http, string role)
    {
        var email = $"{role[5..].ToLowerInvariant()}-{Guid.NewGuid():N}@example.com";
        var response = await EdgeFixture.PostAsync(http, "v1/auth/signup", null,
            new { email, password = "correct-horse-battery-staple", role }, TestContext.Current.CancellationToken);
        return new Account(response["account"]!["id"]!.GetValue<string>(), response["session"]!["accessToken"]!.GetValue<string>());
    }

    /// <summary>Waits until the edge at <paramref name="edge"/> serves <paramref name="slug"/> to <paramref name="key"/> (answers 200).</summary>
    public static async Task WaitServedAsync(Uri edge, string slug, string key, TimeSpan bound)
    {
        using var http = new HttpClient { BaseAddress = edge, Timeout = TimeSpan.FromSeconds(5) };
        var ct = TestContext.Current.CancellationToken;
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                using var request = Get(slug, key);
                using var response = await http.SendAsync(request, ct);
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, bound, $"the edge at {edge} serves /{slug}/");
    }

    public static HttpRequestMessage Get(string slug, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"{slug}/metered?secret=not-in-events");
        if (key is not null)
        {
            request.Headers.Add("X-Api-Key", key);
        }
        return request;
    }

    /// <summary>Billable and total calls usage counted for the subscription's current cycle (0 when none yet).</summary>
    public Task<(long Billable, long Total)> CycleCountsAsync(string subscriptionId) => CycleCountsAsync(_usageChannel, subscriptionId);

    public static async Task<(long Billable, long Total)> CycleCountsAsync(GrpcChannel usage, string subscriptionId)
    {
        var response = await new UsageService.UsageServiceClient(usage).ListCycleUsageAsync(
            new ListCycleUsageRequest { SubscriptionId = subscriptionId }, deadline: DateTime.UtcNow.AddSeconds(10),
            cancellationToken: TestContext.Current.CancellationToken);
        return (response.Cycles.Sum(c => c.BillableCalls), response.Cycles.Sum(c => c.TotalCalls));
    }

    /// <summary>The quota status usage shows the subscription's consumer (a gRPC call with the consumer's token).</summary>
    public async Task<QuotaStatus> QuotaStatusAsync(string subscriptionId, string token)
    {
        var response = await new UsageService.UsageServiceClient(_usageChannel).GetQuotaStatusAsync(
            new GetQuotaStatusRequest { SubscriptionId = subscriptionId },
            new Grpc.Core.Metadata { { "Authorization", "Bearer " + token } }, deadline: DateTime.UtcNow.AddSeconds(10),
            cancellationToken: TestContext.Current.CancellationToken);
        return response.Status;
    }

    /// <summary>The subscription's cycles as usage reports them to billing.</summary>
    public async Task<IReadOnlyList<CycleUsage>> CyclesAsync(string subscriptionId) =>
        (await new UsageService.UsageServiceClient(_usageChannel).ListCycleUsageAsync(
            new ListCycleUsageRequest { SubscriptionId = subscriptionId }, deadline: DateTime.UtcNow.AddSeconds(10),
            cancellationToken: TestContext.Current.CancellationToken)).Cycles;

    /// <summary>What usage reports to the provider for one API over the last hour (minute buckets, from the rollups).</summary>
    public async Task<UsageBucket> ProviderTotalsAsync(PublishedApi api)
    {
        var response = await new UsageService.UsageServiceClient(_usageChannel).QueryUsageAsync(
            new QueryUsageRequest { ApiId = api.ApiId, Granularity = "MINUTE" },
            new Metadata { { "Authorization", "Bearer " + api.Provider.Token } },
            deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: TestContext.Current.CancellationToken);
        return response.Totals ?? new UsageBucket();
    }

    /// <summary>Events waiting in an edge's spool file (read from the file itself).</summary>
    public static long SpoolDepth(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "edge-spool.db");
        if (!File.Exists(path))
        {
            return 0;
        }
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(sum(events), 0) FROM spool_group;";
        return (long)command.ExecuteScalar()!;
    }
}

/// <summary>Drives load through an edge and tallies what the client saw.</summary>
public sealed class UsageLoad
{
    private int _ok;
    private int _other;

    public int Ok => Volatile.Read(ref _ok);

    public int Other => Volatile.Read(ref _other);

    /// <summary>Sends <paramref name="count"/> requests over <paramref name="concurrency"/> connections.</summary>
    public async Task SendAsync(Uri edge, string slug, Func<int, string?> keyFor, int count, int concurrency = 8)
    {
        using var http = new HttpClient { BaseAddress = edge, Timeout = TimeSpan.FromSeconds(10) };
        var next = -1;
        var ct = TestContext.Current.CancellationToken;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                using var request = UsageFixture.Get(slug, keyFor(i));
                using var response = await http.SendAsync(request, ct);
                await response.Content.ReadAsByteArrayAsync(ct);
                Interlocked.Increment(ref response.StatusCode == HttpStatusCode.OK ? ref _ok : ref _other);
            }
        }));
    }

    /// <summary>Sends requests until <paramref name="stop"/> is cancelled or the edge stops answering; counts only complete answers.</summary>
    public async Task SendUntilAsync(Uri edge, string slug, string key, int concurrency, CancellationToken stop)
    {
        using var http = new HttpClient { BaseAddress = edge, Timeout = TimeSpan.FromSeconds(10) };
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var request = UsageFixture.Get(slug, key);
                    using var response = await http.SendAsync(request, stop);
                    await response.Content.ReadAsByteArrayAsync(stop);
                    Interlocked.Increment(ref response.StatusCode == HttpStatusCode.OK ? ref _ok : ref _other);
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                {
                    return;
                }
            }
        }));
    }
}

/// <summary>A real edge process (<c>dotnet Veil.Edge.dll</c>) on a given port and data folder.</summary>
public sealed class UsageEdgeProcess : IDisposable
{
    private readonly System.Diagnostics.Process _process;

    private UsageEdgeProcess(System.Diagnostics.Process process, Uri url)
    {
        _process = process;
        Url = url;
    }

    public Uri Url { get; }

    public bool HasExited => _process.HasExited;

    public static UsageEdgeProcess Start(int port, string dataDirectory, IReadOnlyDictionary<string, string> settings)
    {
        var dll = EdgeDll();
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        var url = new Uri($"http://127.0.0.1:{port}/");
        start.Environment["Kestrel__Endpoints__Http__Url"] = url.ToString();
        // The HTTP/2 listener on any free port: appsettings.json names 8082, which every edge would share.
        start.Environment["Kestrel__Endpoints__Grpc__Url"] = "http://127.0.0.1:0";
        start.Environment["Veil__DataDirectory"] = dataDirectory;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }
        var process = System.Diagnostics.Process.Start(start)!;
        // Drain both pipes so a chatty edge never blocks on a full pipe.
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new UsageEdgeProcess(process, url);
    }

    /// <summary>kill -9: no shutdown code runs.</summary>
    public void KillHard() => _process.Kill(entireProcessTree: false);

    /// <summary>SIGTERM: the host's graceful stop, then waits (bounded) for the exit.</summary>
    public async Task StopGracefullyAsync(TimeSpan bound)
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(bound);
        await _process.WaitForExitAsync(cts.Token);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }

    /// <summary>The edge built next to these tests: edge/bin/{Debug|Release}/net10.0/Veil.Edge.dll of this repository.</summary>
    private static string EdgeDll()
    {
        var baseDirectory = AppContext.BaseDirectory;
        var configuration = baseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        for (var dir = new DirectoryInfo(baseDirectory); dir is not null; dir = dir.Parent)
        {
            var dll = Path.Combine(dir.FullName, "edge", "bin", configuration, "net10.0", "Veil.Edge.dll");
            if (File.Exists(Path.Combine(dir.FullName, "edge", "Veil.Edge.csproj")) && File.Exists(dll))
            {
                return dll;
            }
        }
        throw new FileNotFoundException("Veil.Edge.dll not found above " + baseDirectory);
    }
}
