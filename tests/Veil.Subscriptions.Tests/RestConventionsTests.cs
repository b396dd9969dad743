using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Veil.Subscriptions.V1;

namespace Veil.Subscriptions.Tests;

/// <summary>
/// REST as clients expect it on plans and subscriptions (docs/architecture.md, "REST conventions"):
/// 201 + Location on create, Idempotency-Key retries answered once, enum values without prefix.
/// </summary>
public sealed class RestConventionsTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<HttpResponseMessage> PostAsync(HttpClient rest, string path, object body, string idempotencyKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await rest.SendAsync(request, Ct);
    }

    [Fact]
    public async Task CreatePlan_RetriedWithSameKey_201WithLocationAndOnePlan()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        using var rest = fixture.Rest(provider);
        var key = Guid.NewGuid().ToString();
        var plan = new { apiId = api.Id, name = "Free", requestsPerSecond = 10 };

        using var first = await PostAsync(rest, "v1/plans", plan, key);
        using var retry = await PostAsync(rest, "v1/plans", plan, key);

        var body = await first.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(first.StatusCode == HttpStatusCode.Created, body.ToString());
        Assert.Equal($"/v1/plans/{body.GetProperty("plan").GetProperty("id").GetString()}", first.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(body.ToString(), (await retry.Content.ReadFromJsonAsync<JsonElement>(Ct)).ToString());
        var plans = await fixture.Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct);
        Assert.Single(plans.Plans);
    }

    [Fact]
    public async Task Subscribe_RetriedWithSameKey_OneSubscription_OtherBodyIs422()
    {
        var (_, _, plan) = await fixture.ProviderWithPlanAsync();
        var (_, _, otherPlan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        using var rest = fixture.Rest(consumer);
        var key = Guid.NewGuid().ToString();

        using var first = await PostAsync(rest, "v1/subscriptions", new { planId = plan.Id }, key);
        using var retry = await PostAsync(rest, "v1/subscriptions", new { planId = plan.Id }, key);
        using var other = await PostAsync(rest, "v1/subscriptions", new { planId = otherPlan.Id }, key);

        var body = await first.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(first.StatusCode == HttpStatusCode.Created, body.ToString());
        var id = body.GetProperty("subscription").GetProperty("id").GetString();
        Assert.Equal($"/v1/subscriptions/{id}", first.Headers.Location?.OriginalString);
        Assert.Equal("ACTIVE", body.GetProperty("subscription").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(id, (await retry.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("subscription").GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        var mine = await fixture.Client.ListSubscriptionsAsync(new ListSubscriptionsRequest(), consumer.Headers, SubscriptionsFixture.Deadline, Ct);
        Assert.Equal([id], mine.Subscriptions.Select(s => s.Id));
    }

    [Fact]
    public async Task GetSubscription_Rest_StatusWithoutPrefix()
    {
        var (_, _, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var subscription = await fixture.SubscribeAsync(consumer, plan);
        using var rest = fixture.Rest(consumer);

        using var read = await rest.GetAsync($"v1/subscriptions/{subscription.Id}", Ct);

        var body = await read.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(read.IsSuccessStatusCode, body.ToString());
        Assert.Equal("ACTIVE", body.GetProperty("subscription").GetProperty("status").GetString());
    }
}
