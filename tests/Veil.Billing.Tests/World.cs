using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;
using Veil.Billing.Grpc;
using Veil.Billing.V1;
using Veil.Subscriptions.Grpc;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Billing;
using Veil.Subscriptions.V1;
using Veil.Testing;
using Veil.Usage.Grpc;
using Veil.Usage.V1;

namespace Veil.Billing.Tests;

/// <summary>
/// Subscriptions, usage and billing of one test, wired to the fleet's identity and catalog. Usage
/// and billing run on one fake clock; subscriptions on <see cref="SubscriptionsClock"/>, which
/// follows it unless a test pins it to start a subscription "a month ago" or cancel it at a chosen
/// time. Tests play the edge by ingesting events straight into usage, and let time pass with
/// <see cref="PumpUntilAsync"/>.
/// </summary>
public sealed class World : IAsyncDisposable
{
    private readonly List<GrpcChannel> _channels = [];
    private readonly string _usageData;
    private readonly Uri _usageGrpcUrl;
    private readonly string _subscriptionsData;
    private readonly Uri _subscriptionsGrpcUrl;
    private readonly Uri? _billingForHolds;

    private World(Fleet fleet, FakeTimeProvider clock, PinnableClock subscriptionsClock, Uri? billingForHolds, string subscriptionsData,
        ClockedHost<SubscriptionsGrpcService> subscriptions, string usageData, ClockedHost<UsageGrpcService> usage, ClockedHost<BillingGrpcService> billing)
    {
        _usageData = usageData;
        _usageGrpcUrl = usage.GrpcUrl;
        _subscriptionsData = subscriptionsData;
        _subscriptionsGrpcUrl = subscriptions.GrpcUrl;
        _billingForHolds = billingForHolds;
        Fleet = fleet;
        Clock = clock;
        SubscriptionsClock = subscriptionsClock;
        Subscriptions = subscriptions;
        Usage = usage;
        Billing = billing;
        SubscriptionsClient = new SubscriptionService.SubscriptionServiceClient(Channel(subscriptions.GrpcUrl));
        UsageClient = new UsageService.UsageServiceClient(Channel(usage.GrpcUrl));
        Client = new BillingService.BillingServiceClient(Channel(billing.GrpcUrl));
    }

    public Fleet Fleet { get; }

    public FakeTimeProvider Clock { get; }

    /// <summary>Subscriptions' clock: <see cref="Clock"/>, or the time a test pinned.</summary>
    public PinnableClock SubscriptionsClock { get; }

    /// <summary>This world's subscriptions: plans, subscriptions, and billing's listing of them.</summary>
    public ClockedHost<SubscriptionsGrpcService> Subscriptions { get; private set; }

    public ClockedHost<UsageGrpcService> Usage { get; private set; }

    public ClockedHost<BillingGrpcService> Billing { get; }

    public SubscriptionService.SubscriptionServiceClient SubscriptionsClient { get; }

    public UsageService.UsageServiceClient UsageClient { get; private set; }

    public BillingService.BillingServiceClient Client { get; }

    /// <summary>
    /// Starts subscriptions (unless <paramref name="startSubscriptions"/> is false: it is down until
    /// <see cref="RestartSubscriptionsAsync"/>), usage and billing at <paramref name="clockStart"/>.
    /// <paramref name="enforceHolds"/>: subscriptions asks this billing about credit holds.
    /// <paramref name="configure"/> adds billing settings.
    /// </summary>
    public static World Start(Fleet fleet, DateTimeOffset clockStart, Action<ClockedHost<BillingGrpcService>>? configure = null, bool enforceHolds = false,
        bool startSubscriptions = true)
    {
        var clock = new FakeTimeProvider(clockStart);
        var subscriptionsClock = new PinnableClock(clock);
        // Usage's and subscriptions' folders outlive their hosts, so an outage can be followed by a restart on the same data.
        var usageData = Directory.CreateTempSubdirectory("veil-billing-usage-").FullName;
        var subscriptionsData = Directory.CreateTempSubdirectory("veil-billing-subscriptions-").FullName;
        var usage = NewUsageHost(fleet, clock, usageData);
        var billing = new ClockedHost<BillingGrpcService>(clock);
        var billingForHolds = enforceHolds ? billing.GrpcUrl : null;
        var subscriptions = NewSubscriptionsHost(fleet, subscriptionsClock, subscriptionsData, billingForHolds, usage.GrpcUrl);
        billing.With("Veil:Auth:Authority", fleet.Identity.HttpUrl.ToString())
            .With("services:usage:grpc:0", usage.GrpcUrl.ToString())
            .With("services:subscriptions:grpc:0", subscriptions.GrpcUrl.ToString())
            .With("Billing:DraftRefreshInterval", "00:00:01")
            .With("Billing:UsageTimeout", "00:00:05")
            .With("Billing:CreditHoldThresholdMinor:EUR", "1000000000");
        configure?.Invoke(billing);
        if (startSubscriptions)
        {
            subscriptions.Start();
        }
        usage.Start();
        billing.Start();
        return new World(fleet, clock, subscriptionsClock, billingForHolds, subscriptionsData, subscriptions, usageData, usage, billing);
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

    /// <summary>Stops subscriptions (its port then refuses connections).</summary>
    public async Task StopSubscriptionsAsync() => await Subscriptions.DisposeAsync();

    /// <summary>Starts subscriptions again (or for the first time) on the same gRPC port and data folder.</summary>
    public async Task RestartSubscriptionsAsync()
    {
        await Subscriptions.DisposeAsync();
        Subscriptions = NewSubscriptionsHost(Fleet, SubscriptionsClock, _subscriptionsData, _billingForHolds, _usageGrpcUrl);
        Subscriptions.With("Kestrel:Endpoints:Grpc:Url", _subscriptionsGrpcUrl.ToString());
        Subscriptions.Start();
    }

    /// <summary>Subscribes <paramref name="consumer"/> to <paramref name="planId"/> with subscriptions' clock pinned at <paramref name="at"/>.</summary>
    public async Task<Subscription> SubscribeAtAsync(Account consumer, string planId, DateTimeOffset at)
    {
        using var pinned = SubscriptionsClock.Pin(at);
        return (await SubscriptionsClient.SubscribeAsync(new SubscribeRequest { PlanId = planId }, consumer.Headers, Fleet.Deadline, Fleet.Ct)).Subscription;
    }

    /// <summary>Cancels the customer's subscription with subscriptions' clock pinned at <paramref name="at"/>.</summary>
    public async Task<Subscription> CancelAtAsync(Customer customer, DateTimeOffset at)
    {
        using var pinned = SubscriptionsClock.Pin(at);
        return (await SubscriptionsClient.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = customer.SubscriptionId },
            customer.Consumer.Headers, Fleet.Deadline, Fleet.Ct)).Subscription;
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

    /// <summary>Lets time pass until billing's draft job has run <paramref name="count"/> more times (each logs 7001).</summary>
    public async Task SyncsAsync(int count)
    {
        var target = Billing.Logs.Count(BillingEvents.SyncCompleted) + count;
        await PumpUntilAsync(() => Task.FromResult(Billing.Logs.Count(BillingEvents.SyncCompleted) >= target), $"{count} more draft syncs ran");
    }

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

    /// <summary>The one invoice of <paramref name="account"/> for the period starting at <paramref name="periodStart"/>.</summary>
    public async Task<Invoice> InvoiceForAsync(Account account, DateTimeOffset periodStart) =>
        (await InvoicesAsync(account)).Single(i => i.PeriodStart.ToDateTimeOffset() == periodStart);

    public async Task<Invoice> GetInvoiceAsync(Account account, string invoiceId) =>
        (await Client.GetInvoiceAsync(new GetInvoiceRequest { InvoiceId = invoiceId }, account.Headers, Fleet.Deadline, Fleet.Ct)).Invoice;

    public async Task<ReconciliationRun> ReconcileAsync(Account staff) =>
        (await Client.RunReconciliationAsync(new RunReconciliationRequest(), staff.Headers, Fleet.Deadline, Fleet.Ct)).Run;

    private static ClockedHost<UsageGrpcService> NewUsageHost(Fleet fleet, TimeProvider clock, string dataDirectory)
    {
        var usage = new ClockedHost<UsageGrpcService>(clock, dataDirectory);
        usage.With("Veil:Auth:Authority", fleet.Identity.HttpUrl.ToString())
            // Consumers' webhooks (plan.changed notices) point at loopback in tests.
            .With("Usage:AllowPrivateWebhooks", "true");
        return usage;
    }

    private static ClockedHost<SubscriptionsGrpcService> NewSubscriptionsHost(Fleet fleet, TimeProvider clock, string dataDirectory, Uri? billingForHolds,
        Uri usageGrpcUrl)
    {
        var subscriptions = new ClockedHost<SubscriptionsGrpcService>(clock, dataDirectory);
        subscriptions.With("Veil:Auth:Authority", fleet.Identity.HttpUrl.ToString())
            .With("services:catalog:grpc:0", fleet.Catalog.GrpcUrl.ToString())
            // plan.changed notices go to this world's usage, offered again every second while it is down.
            .With("services:usage:grpc:0", usageGrpcUrl.ToString())
            .With("Subscriptions:NoticeRetryInterval", "00:00:01");
        if (billingForHolds is not null)
        {
            subscriptions.With("services:billing:grpc:0", billingForHolds.ToString());
        }
        return subscriptions;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        await Billing.DisposeAsync();
        await Usage.DisposeAsync();
        await Subscriptions.DisposeAsync();
        foreach (var folder in new[] { _usageData, _subscriptionsData })
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // A pooled SQLite handle may still be closing; the OS temp folder is cleaned anyway.
            }
        }
    }
}

/// <summary>
/// A clock that follows another unless pinned: subscriptions stamps <c>create_time</c> (the
/// billing-cycle anchor) and <c>cancel_time</c> with it, so a test can start a subscription before
/// the world's now, exactly where the events it ingests say it started.
/// </summary>
public sealed class PinnableClock(TimeProvider inner) : TimeProvider
{
    private readonly Lock _lock = new();
    private DateTimeOffset? _pinned;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _pinned ?? inner.GetUtcNow();
        }
    }

    /// <summary>Pins the clock at <paramref name="at"/> until the returned scope is disposed.</summary>
    public IDisposable Pin(DateTimeOffset at)
    {
        lock (_lock)
        {
            _pinned = at;
        }
        return new Unpin(this);
    }

    private sealed class Unpin(PinnableClock clock) : IDisposable
    {
        public void Dispose()
        {
            lock (clock._lock)
            {
                clock._pinned = null;
            }
        }
    }
}

/// <summary>
/// A consumer subscribed to a provider's plan, and the edge's view of it: the events carry the
/// plan's terms and the subscription's start (the cycle anchor), which the test chooses, e.g. a
/// month ago.
/// </summary>
public sealed record Customer(Account Provider, string ApiId, Plan Plan, Account Consumer, string SubscriptionId, DateTimeOffset Anchor)
{
    private int _sequence;

    /// <summary>
    /// Signs up a provider and a consumer, publishes an API, creates <paramref name="plan"/> on it in
    /// the world's subscriptions and subscribes, starting the subscription at <paramref name="anchor"/>.
    /// </summary>
    public static async Task<Customer> CreateAsync(World world, CreatePlanRequest plan, DateTimeOffset anchor, Account? provider = null)
    {
        var fleet = world.Fleet;
        provider ??= await fleet.SignUpAsync(Role.Provider);
        var api = await fleet.CreateApiAsync(provider);
        plan.ApiId = api.Id;
        plan.Name = string.IsNullOrEmpty(plan.Name) ? "Plan " + Guid.NewGuid().ToString("N")[..6] : plan.Name;
        plan.RequestsPerSecond = plan.RequestsPerSecond == 0 ? 100 : plan.RequestsPerSecond;
        var created = (await world.SubscriptionsClient.CreatePlanAsync(plan, provider.Headers, Fleet.Deadline, Fleet.Ct)).Plan;
        var consumer = await fleet.SignUpAsync(Role.Consumer);
        var subscription = await world.SubscribeAtAsync(consumer, created.Id, anchor);
        // The edge stamps every event with the subscription's start; the events here carry the same.
        Assert.Equal(anchor, subscription.CreateTime.ToDateTimeOffset());
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
