using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Veil.Edge.Calls;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Issue 12, item 10: cancelling and subscribing again within a cycle used to give a full new
/// quota. The quota follows (consumer, API, cycle), through the real edge, subscriptions and usage.
/// </summary>
public sealed class ResubscribeQuotaTests(UsageFixture fixture) : IClassFixture<UsageFixture>
{
    private static readonly TimeSpan ShipBound = TimeSpan.FromSeconds(30);

    /// <summary>The documented over-admission window of a hard cap while the pipeline is healthy.</summary>
    private static readonly TimeSpan QuotaWindow = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Resubscribe_SamePlanThenAnotherPlanWithinTheCycle_QuotaIsNotReset()
    {
        // Quotas large against the hard cap's over-admission window (about 2 s of calls), so a fresh
        // quota for plan B (the bug) and the rest of a shared one (the rule) cannot be confused.
        const int quotaA = 2_000;
        const int quotaB = 2_500;
        var ct = TestContext.Current.CancellationToken;
        var api = await fixture.PublishApiAsync(monthlyQuota: quotaA, overageAllowed: false, pricePerCallMinor: 2);
        using var http = fixture.Edge.CreateRestClient();
        var planB = (await EdgeFixture.PostAsync(http, "v1/plans", api.Provider.Token, new
        {
            apiId = api.ApiId, name = "Bigger", requestsPerSecond = 100_000, burst = 100_000,
            monthlyQuota = quotaB, overageAllowed = false, pricePerCallMinor = 3, currency = "USD",
        }, ct))["plan"]!["id"]!.GetValue<string>();
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        var first = await SubscriptionAsync(http, consumer, consumer.SubscriptionId!, ct);
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));

        // Plan A's quota is used up.
        var admittedA = 1 + (await CallUntilRefusedAsync(http, api.Slug, consumer.Key, ct)).Count;
        Assert.True(admittedA >= quotaA, $"only {admittedA} of plan A's {quotaA} calls were admitted");
        await Eventually.HoldsAsync(async () => (await fixture.CycleCountsAsync(first.Id)).Billable == admittedA, ShipBound,
            "usage counts plan A's calls");

        // Cancel, then subscribe to the same plan again: the subscription is resumed, still exhausted.
        await CancelAsync(http, consumer, first.Id, ct);
        var again = await EdgeFixture.PostAsync(http, "v1/subscriptions", consumer.Account.Token, new { planId = api.PlanId }, ct);
        Assert.True(again["resumed"]?.GetValue<bool>(), $"the same plan within the cycle resumes: {again}");
        Assert.Equal(first.Id, again["subscription"]!["id"]!.GetValue<string>());
        Assert.Equal("ACTIVE", again["subscription"]!["status"]!.GetValue<string>());
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await http.SendAsync(UsageFixture.Get(api.Slug, consumer.Key), ct);
            return response.StatusCode == HttpStatusCode.TooManyRequests &&
                (await response.Content.ReadAsStringAsync(ct)).Contains(Problems.QuotaExhaustedType, StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10), "the resumed subscription is still out of quota");

        // Cancel, then subscribe to a bigger plan: a new subscription in the same cycle, whose quota
        // already holds plan A's calls.
        await CancelAsync(http, consumer, first.Id, ct);
        var switched = await EdgeFixture.PostAsync(http, "v1/subscriptions", consumer.Account.Token, new { planId = planB }, ct);
        Assert.False(switched["resumed"]?.GetValue<bool>() ?? false);
        var second = await SubscriptionAsync(http, consumer, switched["subscription"]!["id"]!.GetValue<string>(), ct);
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(first.Anchor, second.Anchor);
        Assert.True(second.Created > first.Created);

        var times = await CallUntilRefusedAsync(http, api.Slug, consumer.Key, ct);
        TestContext.Current.SendDiagnosticMessage($"plan A admitted {admittedA}; plan B admitted {times.Count} (quota {quotaB})");
        var left = Math.Max(0, quotaB - admittedA);
        Assert.True(times.Count >= left, $"only {times.Count} of the {left} calls left in plan B's quota were admitted");
        Assert.True(times.Count < quotaB, $"plan B admitted {times.Count} calls: a fresh quota of {quotaB}, not the {left} left of the cycle's");
        // Calls admitted after the shared quota was reached: all within the documented window.
        var reached = left == 0 ? TimeSpan.Zero : times[left - 1];
        Assert.DoesNotContain(times.Skip(left), t => t - reached > QuotaWindow);

        // Usage shows one quota for the cycle, and tells billing what plan A used first.
        await Eventually.HoldsAsync(async () => (await fixture.CycleCountsAsync(second.Id)).Billable == times.Count, ShipBound,
            "usage counts plan B's calls");
        var status = await fixture.QuotaStatusAsync(second.Id, consumer.Account.Token);
        Assert.Equal(admittedA + times.Count, status.Used);
        Assert.Equal(quotaB, status.MonthlyQuota);
        Assert.True(status.Exhausted);
        // The cycle is plan A's first one, still anchored where A started.
        Assert.Equal(first.Anchor, status.CycleStart.ToDateTimeOffset());
        var cycle = Assert.Single(await fixture.CyclesAsync(second.Id));
        Assert.Equal(admittedA, cycle.QuotaUsedBefore);
        Assert.Equal(times.Count, cycle.BillableCalls);
    }

    private sealed record SubscriptionView(string Id, DateTimeOffset Anchor, DateTimeOffset Created);

    private static async Task<SubscriptionView> SubscriptionAsync(HttpClient http, Consumer consumer, string id, CancellationToken ct)
    {
        var subscription = (await EdgeFixture.GetAsync(http, $"v1/subscriptions/{id}", consumer.Account.Token, ct))["subscription"]!;
        return new SubscriptionView(id,
            DateTimeOffset.Parse(subscription["cycleAnchorTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(subscription["createTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
    }

    private static Task CancelAsync(HttpClient http, Consumer consumer, string id, CancellationToken ct) =>
        EdgeFixture.PostAsync(http, $"v1/subscriptions/{id}:cancel", consumer.Account.Token, new { }, ct);

    /// <summary>Calls until refused with 429 (bounded); returns when each admitted call was answered.</summary>
    private static async Task<List<TimeSpan>> CallUntilRefusedAsync(HttpClient http, string slug, string key, CancellationToken ct)
    {
        var admitted = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            using var response = await http.SendAsync(UsageFixture.Get(slug, key), ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
                var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
                Assert.Equal(Problems.QuotaExhaustedType, problem["type"]!.GetValue<string>());
                return admitted;
            }
            admitted.Add(clock.Elapsed);
        }
        Assert.Fail($"no refusal after {admitted.Count} calls in {clock.Elapsed}");
        return admitted;
    }
}
