using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;
using Veil.Billing.Grpc;
using Veil.Billing.V1;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Billing;
using Veil.Subscriptions.V1;
using Veil.Testing;
using Veil.Usage.Grpc;
using Veil.Usage.V1;

namespace Veil.Billing.Tests;

/// <summary>
/// Usage and billing on one fake clock, wired to the fleet's identity and to a subscriptions host
/// (the fleet's, or one that enforces holds against this billing). Tests play the edge by ingesting
/// events straight into usage, and let time pass with <see cref="PumpUntilAsync"/>.
/// </summary>
public sealed class World : IAsyncDisposable
{
    private readonly List<GrpcChannel> _channels = [];
    private readonly string _usageData;
    private readonly Uri _usageGrpcUrl;

    private World(Fleet fleet, FakeTimeProvider clock, string usageData, ClockedHost<UsageGrpcService> usage, ClockedHost<BillingGrpcService> billing)
    {
        _usageData = usageData;
        _usageGrpcUrl = usage.GrpcUrl;
        Fleet = fleet;
        Clock = clock;
        Usage = usage;
        Billing = billing;
        UsageClient = new UsageService.UsageServiceClient(Channel(usage.GrpcUrl));
        Client = new BillingService.BillingServiceClient(Channel(billing.GrpcUrl));
    }

    public Fleet Fleet { get; }

    public FakeTimeProvider Clock { get; }

    public ClockedHost<UsageGrpcService> Usage { get; private set; }

    public ClockedHost<BillingGrpcService> Billing { get; }

    public UsageService.UsageServiceClient UsageClient { get; private set; }

    public BillingService.BillingServiceClient Client { get; }

    /// <summary>
    /// Starts usage and billing at <paramref name="clockStart"/>. <paramref name="subscriptions"/>
    /// (not started yet) is the plan source when given, else the fleet's; <paramref name="configure"/>
    /// adds billing settings.
    /// </summary>
    public static World Start(Fleet fleet, DateTimeOffset clockStart, ServiceHost<Veil.Subscriptions.Grpc.SubscriptionsGrpcService>? subscriptions = null,
        Action<ClockedHost<BillingGrpcService>>? configure = null)
    {
        var clock = new FakeTimeProvider(clockStart);
        // Usage's folder outlives its host, so an outage can be followed by a restart on the same data.
        var usageData = Directory.CreateTempSubdirectory("veil-billing-usage-").FullName;
        var usage = NewUsageHost(fleet, clock, usageData);
        var billing = new ClockedHost<BillingGrpcService>(clock);
        billing.With("Veil:Auth:Authority", fleet.Identity.HttpUrl.ToString())
            .With("services:usage:grpc:0", usage.GrpcUrl.ToString())
            .With("services:subscriptions:grpc:0", (subscriptions ?? fleet.Subscriptions).GrpcUrl.ToString())
            .With("Billing:DraftRefreshInterval", "00:00:01")
            .With("Billing:UsageTimeout", "00:00:05")
            .With("Billing:CreditHoldThresholdMinor:EUR", "1000000000");
        configure?.Invoke(billing);
        usage.Start();
        billing.Start();
        return new World(fleet, clock, usageData, usage, billing);
    }

    /// <summary>Stops usage (its port then refuses connections).</summary>
    public async Task StopUsageAsync() => await Usage.DisposeAsync();

    /// <summary>Starts usage again on the same gRPC port and data folder, as after an outage.</summary>
    public void RestartUsage()
    {
        Usage = NewUsageHost(Fleet, Clock, _usageData);
        Usage.With("Kestrel:Endpoints:Grpc:Url", _usageGrpcUrl.ToString());
        Usage.Start();
        UsageClient = new UsageService.UsageServiceClient(Channel(_usageGrpcUrl));
    }

    /// <summary>A gRPC channel closed with the world.</summary>
    public GrpcChannel Channel(Uri url)
    {
        var channel = GrpcChannel.ForAddress(url);
        _channels.Add(channel);
        return channel;
    }

    /// <summary>A REST client for billing's HTTP port.</summary>
    public HttpClient Rest(Account? account = null) => Billing.CreateRestClient().WithToken(account);

    /// <summary>
    /// Waits for <paramref name="condition"/> while time passes: each poll that finds it false moves
    /// the clock one second, which lets billing's jobs (timed by the same clock) tick.
    /// </summary>
    public Task PumpUntilAsync(Func<Task<bool>> condition, string because) =>
        Eventually.HoldsAsync(async () =>
        {
            if (await condition())
            {
                return true;
            }
            Clock.Advance(TimeSpan.FromSeconds(1));
            return false;
        }, TimeSpan.FromSeconds(30), because);

    /// <summary>Sends events to usage as the edge's shipper would; all must be counted.</summary>
    public async Task IngestAsync(IEnumerable<UsageEvent> events)
    {
        var request = new IngestEventsRequest();
        request.Events.AddRange(events);
        var response = await UsageClient.IngestEventsAsync(request, deadline: Fleet.Deadline, cancellationToken: Fleet.Ct);
        Assert.True(response.Accepted == request.Events.Count, $"usage accepted {response.Accepted} of {request.Events.Count} ({response.Quarantined} quarantined)");
    }

    /// <summary>The invoices <paramref name="account"/> may list, newest period first.</summary>
    public async Task<List<Invoice>> InvoicesAsync(Account account, string? subscriptionId = null) =>
        (await Client.ListInvoicesAsync(new ListInvoicesRequest { SubscriptionId = subscriptionId ?? "" }, account.Headers, Fleet.Deadline, Fleet.Ct))
            .Invoices.ToList();

    public async Task<Invoice> GetInvoiceAsync(Account account, string invoiceId) =>
        (await Client.GetInvoiceAsync(new GetInvoiceRequest { InvoiceId = invoiceId }, account.Headers, Fleet.Deadline, Fleet.Ct)).Invoice;

    public async Task<ReconciliationRun> ReconcileAsync(Account staff) =>
        (await Client.RunReconciliationAsync(new RunReconciliationRequest(), staff.Headers, Fleet.Deadline, Fleet.Ct)).Run;

    private static ClockedHost<UsageGrpcService> NewUsageHost(Fleet fleet, TimeProvider clock, string dataDirectory)
    {
        var usage = new ClockedHost<UsageGrpcService>(clock, dataDirectory);
        usage.With("Veil:Auth:Authority", fleet.Identity.HttpUrl.ToString());
        return usage;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        await Billing.DisposeAsync();
        await Usage.DisposeAsync();
        try
        {
            Directory.Delete(_usageData, recursive: true);
        }
        catch (IOException)
        {
            // A pooled SQLite handle may still be closing; the OS temp folder is cleaned anyway.
        }
    }
}

/// <summary>
/// A consumer subscribed to a provider's plan, and the edge's view of it: the events carry the
/// plan's terms and a subscription start (the cycle anchor) the test chooses, which stands in for a
/// subscription that started a month ago.
/// </summary>
public sealed record Customer(Account Provider, string ApiId, Plan Plan, Account Consumer, string SubscriptionId, DateTimeOffset Anchor)
{
    private int _sequence;

    /// <summary>Signs up a provider and a consumer, publishes an API, creates <paramref name="plan"/> on it and subscribes.</summary>
    public static async Task<Customer> CreateAsync(Fleet fleet, CreatePlanRequest plan, DateTimeOffset anchor,
        SubscriptionService.SubscriptionServiceClient? subscriptions = null, Account? provider = null)
    {
        subscriptions ??= fleet.SubscriptionsClient;
        provider ??= await fleet.SignUpAsync(Role.Provider);
        var api = await fleet.CreateApiAsync(provider);
        plan.ApiId = api.Id;
        plan.Name = string.IsNullOrEmpty(plan.Name) ? "Plan " + Guid.NewGuid().ToString("N")[..6] : plan.Name;
        plan.RequestsPerSecond = plan.RequestsPerSecond == 0 ? 100 : plan.RequestsPerSecond;
        var created = (await subscriptions.CreatePlanAsync(plan, provider.Headers, Fleet.Deadline, Fleet.Ct)).Plan;
        var consumer = await fleet.SignUpAsync(Role.Consumer);
        var subscription = (await subscriptions.SubscribeAsync(new SubscribeRequest { PlanId = created.Id }, consumer.Headers, Fleet.Deadline, Fleet.Ct)).Subscription;
        return new Customer(provider, api.Id, created, consumer, subscription.Id, anchor);
    }

    /// <summary>One call the edge handled at <paramref name="at"/>.</summary>
    public UsageEvent Call(DateTimeOffset at, bool billable = true) => new()
    {
        EventId = $"{SubscriptionId}-{Interlocked.Increment(ref _sequence)}-{Guid.NewGuid():N}",
        OccurredAt = Timestamp.FromDateTimeOffset(at),
        EdgeId = "edge-test",
        ApiId = ApiId,
        ProviderId = Provider.Id,
        ConfigVersion = 1,
        KeyId = "key_" + SubscriptionId[4..],
        ConsumerId = Consumer.Id,
        SubscriptionId = SubscriptionId,
        PlanId = Plan.Id,
        Method = "GET",
        Route = "/weather/{**rest}",
        StatusCode = billable ? 200 : 429,
        LatencyMs = 5,
        BytesIn = 0,
        BytesOut = 10,
        Billable = billable,
        MonthlyQuota = Plan.MonthlyQuota,
        OverageAllowed = Plan.OverageAllowed,
        PricePerCallMinor = Plan.PricePerCallMinor,
        Currency = Plan.Currency,
        SubscriptionStart = Timestamp.FromDateTimeOffset(Anchor),
    };

    /// <summary><paramref name="count"/> calls one second apart from <paramref name="from"/>.</summary>
    public IEnumerable<UsageEvent> Calls(int count, DateTimeOffset from, bool billable = true) =>
        Enumerable.Range(0, count).Select(i => Call(from.AddSeconds(i), billable)).ToList();
}

/// <summary>Billing cycles as usage computes them, for choosing anchors and checking periods.</summary>
public static class Cycles
{
    /// <summary>
    /// An anchor whose first cycle ends about <paramref name="lead"/> after now, that end (the
    /// boundary), and the clock start <paramref name="lead"/> before it. A month-end anchor can make
    /// the boundary up to three days earlier than now + lead; the clock follows it.
    /// </summary>
    public static (DateTimeOffset Anchor, DateTimeOffset Boundary, DateTimeOffset ClockStart) EndingSoon(TimeSpan lead)
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var anchor = (now + lead).AddMonths(-1);
        var boundary = Containing(anchor, anchor).End;
        return (anchor, boundary, boundary - lead);
    }

    /// <summary>The cycle of a subscription anchored at <paramref name="anchor"/> that contains <paramref name="at"/>.</summary>
    public static BillingCycle Containing(DateTimeOffset anchor, DateTimeOffset at) =>
        BillingCycle.Containing(anchor.ToUnixTimeMilliseconds(), at.ToUnixTimeMilliseconds());
}
