using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Circuit breakers and retries (docs/resilience.md) through real catalog, identity, subscriptions,
/// usage, a real edge and real upstreams on loopback that answer, fail with 503 or reset: what the
/// client sees, how many attempts each upstream received, and what usage counts.
/// </summary>
public sealed class ResilienceTests(UsageFixture fleet) : IClassFixture<UsageFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Breaker_OpensAtTheRatio_AnswersCircuitOpenWithoutTheUpstream_NotBilled_HalfOpenProbeCloses()
    {
        await using var upstream = await FaultyUpstream.StartAsync(FaultyUpstream.Behaviour.Fail503, Ct);
        var (api, consumer) = await PublishAsync([upstream], new
        {
            circuitBreaker = new { minimumRequests = 10, failureRatio = 0.5, openMs = 1000 },
        });
        using var opened = TransitionCounter("open");
        using var closedCount = TransitionCounter("closed");
        using var http = fleet.Edge.CreateRestClient();
        var answered = 0;

        // Nine failures are under minimum_requests: the tenth opens the breaker.
        for (var i = 0; i < 10; i++)
        {
            using var response = await SendAsync(http, HttpMethod.Get, api.Slug + "/items", consumer.Key);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("upstream overloaded", await response.Content.ReadAsStringAsync(Ct));
            answered++;
        }
        Assert.Equal(10, upstream.Hits);

        // Open: 503 problem with Retry-After, the upstream is not called.
        var rejected = 0;
        for (var i = 0; i < 5; i++)
        {
            using var open = await SendAsync(http, HttpMethod.Get, api.Slug + "/items", consumer.Key);
            if (open.Content.Headers.ContentType?.MediaType != "application/problem+json")
            {
                // The 1 s open time may already be over on a slow machine: then a probe reached the upstream.
                answered++;
                break;
            }
            var problem = await Expect.ProblemAsync(open, HttpStatusCode.ServiceUnavailable);
            Assert.Equal("https://veil.dev/problems/circuit-open", problem.GetProperty("type").GetString());
            Assert.Equal(TimeSpan.FromSeconds(1), open.Headers.RetryAfter?.Delta);
            rejected++;
        }
        Assert.True(rejected > 0, "the open breaker answered");
        Assert.Equal(answered, upstream.Hits);

        // The upstream recovers: after open_ms a half-open probe goes through and closes the breaker.
        upstream.Mode = FaultyUpstream.Behaviour.Ok;
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await SendAsync(http, HttpMethod.Get, api.Slug + "/items", consumer.Key);
            if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
            {
                rejected++;
                return false;
            }
            answered++;
            return response.StatusCode == HttpStatusCode.OK;
        }, Bound, "the breaker half-opens and its probe closes it");
        for (var i = 0; i < 3; i++)
        {
            using var closed = await SendAsync(http, HttpMethod.Get, api.Slug + "/items", consumer.Key);
            Assert.Equal(HttpStatusCode.OK, closed.StatusCode);
            answered++;
        }
        Assert.Equal(answered, upstream.Hits);
        Assert.Equal(1, opened.Total);
        Assert.Equal(1, closedCount.Total);

        // Every call is one usage event; the breaker's answers are not billable.
        await Eventually.HoldsAsync(async () => (await fleet.CycleCountsAsync(consumer.SubscriptionId!)).Total == answered + rejected,
            Bound, "usage counts every call");
        Assert.Equal(answered, (await fleet.CycleCountsAsync(consumer.SubscriptionId!)).Billable);
    }

    [Fact]
    public async Task Breaker_OneTargetOpen_CallsGoToTheOtherTarget()
    {
        await using var failing = await FaultyUpstream.StartAsync(FaultyUpstream.Behaviour.Fail503, Ct);
        await using var healthy = await FaultyUpstream.StartAsync(FaultyUpstream.Behaviour.Ok, Ct);
        var (api, consumer) = await PublishAsync([failing, healthy], new
        {
            circuitBreaker = new { minimumRequests = 4, failureRatio = 1.0, openMs = 600_000 },
        });
        using var http = fleet.Edge.CreateRestClient();

        // Round robin: every other call meets the failing target until its fourth failure opens it.
        var failures = 0;
        for (var i = 0; i < 8; i++)
        {
            using var response = await SendAsync(http, HttpMethod.Get, api.Slug + "/c", consumer.Key);
            failures += response.StatusCode == HttpStatusCode.ServiceUnavailable ? 1 : 0;
        }
        Assert.Equal(4, failures);
        Assert.Equal(4, failing.Hits);

        // Open for 10 minutes: every call goes to the healthy target.
        for (var i = 0; i < 6; i++)
        {
            using var response = await SendAsync(http, HttpMethod.Get, api.Slug + "/c", consumer.Key);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(4, failing.Hits);
        Assert.Equal(10, healthy.Hits);
    }

    [Fact]
    public async Task Retry_IdempotentOrKeyedCallsReset_SucceedOnTheOtherTarget_OneUsageEventEach()
    {
        await using var resetting = await FaultyUpstream.StartAsync(FaultyUpstream.Behaviour.Reset, Ct);
        await using var healthy = await FaultyUpstream.StartAsync(FaultyUpstream.Behaviour.Ok, Ct);
        // A budget of every call, so each reset can be retried here (the budget has its own test).
        var (api, consumer) = await PublishAsync([resetting, healthy], new { retry = new { budgetRatio = 1.0 } });
        using var retried = RetryCounter("retried");
        using var http = fleet.Edge.CreateRestClient();

        const int calls = 12;
        for (var i = 0; i < calls; i++)
        {
            using var request = new HttpRequestMessage(i % 3 == 0 ? HttpMethod.Get : i % 3 == 1 ? HttpMethod.Put : HttpMethod.Post, $"{api.Slug}/orders/{i}");
            if (request.Method != HttpMethod.Get)
            {
                request.Content = new StringContent($"{{\"order\":{i}}}", System.Text.Encoding.UTF8, "application/json");
            }
            if (request.Method == HttpMethod.Post)
            {
                request.Headers.Add("Idempotency-Key", "order-" + i);
            }
            request.Headers.Add("X-Api-Key", consumer.Key);
            using var response = await http.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Round robin sent about half the first attempts to the resetting target; each was retried
        // on the healthy one, which got every call once, with its body.
        Assert.InRange(resetting.Hits, 1, calls);
        Assert.Equal(calls, healthy.Hits);
        Assert.Equal(resetting.Hits, retried.Total);
        Assert.Contains($"PUT /orders/1 {{\"order\":1}}", healthy.Served);
        Assert.Contains($"POST /orders/2 {{\"order\":2}}", healthy.Served);
        await Eventually.HoldsAsync(async () => (await fleet.CycleCountsAsync(consumer.SubscriptionId!)).Total == calls,
            Bound, "usage counts every call");
        Assert.Equal((calls, calls), await fleet.CycleCountsAsync(consumer.SubscriptionId!));
    }

    [Fact]
    public async Task Retry_OneTarget_IdempotentRetriedOnce_PostWithoutKeyNever_PostWithKeyRetried()
    {
        await using var resetting = await FaultyUpstream.StartAsync(FaultyUpstream.Behaviour.Reset, Ct);
        var (api, consumer) = await PublishAsync([resetting], new { retry = new { budgetRatio = 1.0 } });
        using var notIdempotent = RetryCounter("not_idempotent");
        using var http = fleet.Edge.CreateRestClient();

        using (var get = await SendAsync(http, HttpMethod.Get, api.Slug + "/a", consumer.Key))
        {
            await Expect.ProblemAsync(get, HttpStatusCode.BadGateway);
        }
        Assert.Equal(2, resetting.Hits);

        using (var post = await SendAsync(http, HttpMethod.Post, api.Slug + "/a", consumer.Key, new StringContent("{}")))
        {
            await Expect.ProblemAsync(post, HttpStatusCode.BadGateway);
        }
        Assert.Equal(3, resetting.Hits);
        Assert.Equal(1, notIdempotent.Total);

        using (var keyed = await SendAsync(http, HttpMethod.Post, api.Slug + "/a", consumer.Key, new StringContent("{}"), idempotencyKey: "k-1"))
        {
            await Expect.ProblemAsync(keyed, HttpStatusCode.BadGateway);
        }
        Assert.Equal(5, resetting.Hits);
    }

    [Fact]
    public async Task Retry_BudgetCapsRetriesAtTheRatio()
    {
        await using var resetting = await FaultyUpstream.StartAsync(FaultyUpstream.Behaviour.Reset, Ct);
        // Default retry policy (10% of calls, at least 1 per 10 s window); a breaker that stays closed.
        var (api, consumer) = await PublishAsync([resetting], new { circuitBreaker = new { enabled = false } });
        using var exhausted = RetryCounter("budget_exhausted");
        using var http = fleet.Edge.CreateRestClient();

        const int calls = 40;
        for (var i = 0; i < calls; i++)
        {
            using var response = await SendAsync(http, HttpMethod.Get, api.Slug + "/b", consumer.Key);
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        // Retries ≤ max(1, 10% of the calls in the window): 4 here; at most one more per 10 s the loop took.
        var retries = resetting.Hits - calls;
        Assert.InRange(retries, 1, 4 + 1);
        Assert.Equal(calls - retries, exhausted.Total);
    }

    private MeterCounter TransitionCounter(string state) =>
        new(fleet.Edge.Services.GetRequiredService<IMeterFactory>(), "Veil.Edge", "veil.edge.circuit.transitions", "veil.circuit.state", state);

    private MeterCounter RetryCounter(string outcome) =>
        new(fleet.Edge.Services.GetRequiredService<IMeterFactory>(), "Veil.Edge", "veil.edge.retries", "veil.retry.outcome", outcome);

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string key,
        HttpContent? content = null, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Add("X-Api-Key", key);
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return await http.SendAsync(request, Ct);
    }

    /// <summary>A provider publishes an API on <paramref name="targets"/> with <paramref name="policies"/>; a consumer subscribes.</summary>
    private async Task<(PublishedApi Api, Consumer Consumer)> PublishAsync(FaultyUpstream[] targets, object policies)
    {
        using var http = fleet.Edge.CreateRestClient();
        var provider = await SignUpProviderAsync(http);
        var slug = "resilient-" + Guid.NewGuid().ToString("N")[..12];
        var policyJson = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(policies))!.AsObject();
        policyJson["targets"] = new JsonObject
        {
            ["items"] = new JsonArray(targets.Select(t => (JsonNode)new JsonObject { ["url"] = t.Url.ToString() }).ToArray()),
        };
        var api = await EdgeFixture.PostAsync(http, "v1/apis", provider.Token,
            new JsonObject { ["slug"] = slug, ["name"] = "Resilient " + slug, ["timeoutMs"] = 5000, ["policies"] = policyJson }, Ct);
        var apiId = api["api"]!["id"]!.GetValue<string>();
        var plan = await EdgeFixture.PostAsync(http, "v1/plans", provider.Token,
            new { apiId, name = "Free", requestsPerSecond = 100_000, burst = 100_000 }, Ct);
        var published = new PublishedApi(apiId, slug, plan["plan"]!["id"]!.GetValue<string>(), provider);
        var consumer = await fleet.ConsumerAsync(published.PlanId);
        await EdgeFixture.WaitRoutedAsync(fleet.Edge, slug, Bound);
        return (published, consumer);
    }

    private static async Task<Account> SignUpProviderAsync(HttpClient http)
    {
        var response = await EdgeFixture.PostAsync(http, "v1/auth/signup", null,
            new { email = $"provider-{Guid.NewGuid():N}@example.com", password = "correct-horse-battery-staple", role = "PROVIDER" }, Ct);
        return new Account(response["account"]!["id"]!.GetValue<string>(), response["session"]!["accessToken"]!.GetValue<string>());
    }
}
