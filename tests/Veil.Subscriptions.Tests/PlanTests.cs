using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

public sealed class PlanTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SubscriptionService.SubscriptionServiceClient Client => fixture.Client;

    private static CreatePlanRequest Valid(string api) => new()
    {
        ApiId = api,
        Name = "Pro",
        RequestsPerSecond = 50,
        Burst = 100,
        MonthlyQuota = 1_000_000,
        PricePerCallMinor = 2,
        Currency = "EUR",
        OverageAllowed = true,
        BasePriceMinor = 4_900,
        OveragePricePerCallMinor = 3,
    };

    [Fact]
    public async Task CreatePlan_OwnerBySlug_StoresCanonicalApiIdAndEveryField()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);

        var plan = (await Client.CreatePlanAsync(Valid(api.Slug), provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;

        Assert.StartsWith("plan_", plan.Id);
        Assert.Equal(api.Id, plan.ApiId);
        Assert.Equal(("Pro", 50, 100, 1_000_000L, 2L, "EUR", true),
            (plan.Name, plan.RequestsPerSecond, plan.Burst, plan.MonthlyQuota, plan.PricePerCallMinor, plan.Currency, plan.OverageAllowed));
        Assert.Equal((4_900L, 3L), (plan.BasePriceMinor, plan.OveragePricePerCallMinor));
        Assert.NotNull(plan.CreateTime);
        var fetched = (await Client.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct)).Plan;
        Assert.Equal(plan, fetched);
    }

    [Fact]
    public async Task CreatePlan_Defaults_BurstIsRateAndCurrencyIsUsd()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);

        var plan = (await Client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "Free", RequestsPerSecond = 7 },
            provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;

        Assert.Equal((7, "USD", 0L, 0L, false), (plan.Burst, plan.Currency, plan.MonthlyQuota, plan.PricePerCallMinor, plan.OverageAllowed));
        Assert.Equal((0L, 0L), (plan.BasePriceMinor, plan.OveragePricePerCallMinor));
    }

    [Fact]
    public async Task CreatePlan_LargePrice_KeptExactlyInMinorUnits()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var request = Valid(api.Id);
        request.PricePerCallMinor = 9_007_199_254_740_993; // 2^53 + 1: a double would round it
        request.MonthlyQuota = long.MaxValue;
        request.BasePriceMinor = long.MaxValue;
        request.OveragePricePerCallMinor = 9_007_199_254_740_995;

        var plan = (await Client.CreatePlanAsync(request, provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;
        var fetched = (await Client.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct)).Plan;

        Assert.Equal(9_007_199_254_740_993, fetched.PricePerCallMinor);
        Assert.Equal(long.MaxValue, fetched.MonthlyQuota);
        Assert.Equal(long.MaxValue, fetched.BasePriceMinor);
        Assert.Equal(9_007_199_254_740_995, fetched.OveragePricePerCallMinor);
    }

    [Fact]
    public async Task CreatePlan_Rest_ReturnsPlanAsJson()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        using var rest = fixture.Rest(provider);

        using var response = await rest.PostAsJsonAsync("v1/plans",
            new { apiId = api.Slug, name = "Free", requestsPerSecond = 10, burst = 20, monthlyQuota = 10000, pricePerCallMinor = 0, basePriceMinor = "1500" }, Ct);

        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        Assert.Equal(api.Id, body.GetProperty("plan").GetProperty("apiId").GetString());
        Assert.Equal("USD", body.GetProperty("plan").GetProperty("currency").GetString());
        Assert.Equal(1500, body.GetProperty("plan").GetProperty("basePriceMinor").GetInt64());
    }

    [Theory]
    [InlineData("api_id")]
    [InlineData("name:empty")]
    [InlineData("name:blank")]
    [InlineData("name:61")]
    [InlineData("requests_per_second:0")]
    [InlineData("requests_per_second:-5")]
    [InlineData("requests_per_second:100001")]
    [InlineData("burst:-1")]
    [InlineData("burst:100001")]
    [InlineData("monthly_quota:-1")]
    [InlineData("price_per_call_minor:-1")]
    [InlineData("base_price_minor:-1")]
    [InlineData("overage_price_per_call_minor:-1")]
    [InlineData("currency:usd")]
    [InlineData("currency:US")]
    [InlineData("currency:USDD")]
    [InlineData("currency:U$D")]
    public async Task CreatePlan_InvalidField_FieldError(string mutation)
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var request = Valid(api.Id);
        var (field, value) = mutation.Split(':') is [var f, var v] ? (f, v) : (mutation, "");
        switch (field)
        {
            case "api_id": request.ApiId = ""; break;
            case "name": request.Name = value switch { "empty" => "", "blank" => "   ", _ => new string('n', int.Parse(value)) }; break;
            case "requests_per_second": request.RequestsPerSecond = int.Parse(value); break;
            case "burst": request.Burst = int.Parse(value); break;
            case "monthly_quota": request.MonthlyQuota = long.Parse(value); break;
            case "price_per_call_minor": request.PricePerCallMinor = long.Parse(value); break;
            case "base_price_minor": request.BasePriceMinor = long.Parse(value); break;
            case "overage_price_per_call_minor": request.OveragePricePerCallMinor = long.Parse(value); break;
            case "currency": request.Currency = value; break;
        }

        var fields = await Expect.FieldErrorsAsync(() => Client.CreatePlanAsync(request, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal([field], fields);
    }

    [Fact]
    public async Task CreatePlan_Limits_Accepted()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);

        var max = (await Client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = new string('n', 60), RequestsPerSecond = 100_000, Burst = 100_000 },
            provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;
        var min = (await Client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "m", RequestsPerSecond = 1, Burst = 1 },
            provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;

        Assert.Equal((100_000, 100_000), (max.RequestsPerSecond, max.Burst));
        Assert.Equal((1, 1), (min.RequestsPerSecond, min.Burst));
    }

    [Fact]
    public async Task CreatePlan_ManyInvalidFields_ReportsEveryOneAtOnce()
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = new CreatePlanRequest
        {
            ApiId = "", Name = "", RequestsPerSecond = 0, Burst = -2, MonthlyQuota = -1, PricePerCallMinor = -1, Currency = "eur",
            BasePriceMinor = -5, OveragePricePerCallMinor = -1,
        };

        var fields = await Expect.FieldErrorsAsync(() => Client.CreatePlanAsync(request, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["api_id", "base_price_minor", "burst", "currency", "monthly_quota", "name", "overage_price_per_call_minor", "price_per_call_minor", "requests_per_second"],
            fields.Order().ToArray());

        using var rest = fixture.Rest(provider);
        using var response = await rest.PostAsJsonAsync("v1/plans", new { apiId = "x-api", name = new string('n', 61), requestsPerSecond = 100_001, currency = "Usd" }, Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["currency", "name", "requestsPerSecond"], Expect.ProblemFields(problem).Order().ToArray());
    }

    [Fact]
    public async Task CreatePlan_DuplicateName_AlreadyExists()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var other = await fixture.CreateApiAsync(provider);
        await fixture.CreatePlanAsync(provider, api.Id, "Free");

        await Expect.StatusAsync(StatusCode.AlreadyExists, () => Client.CreatePlanAsync(
            new CreatePlanRequest { ApiId = api.Slug, Name = "Free", RequestsPerSecond = 1 }, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.AlreadyExists, () => Client.CreatePlanAsync(
            new CreatePlanRequest { ApiId = api.Id, Name = "FREE", RequestsPerSecond = 1 }, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        using var rest = fixture.Rest(provider);
        using var response = await rest.PostAsJsonAsync("v1/plans", new { apiId = api.Id, name = "Free", requestsPerSecond = 1 }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Conflict);

        // The same name on another API is fine.
        var elsewhere = await fixture.CreatePlanAsync(provider, other.Id, "Free");
        Assert.Equal(other.Id, elsewhere.ApiId);
    }

    [Fact]
    public async Task CreatePlan_SomeoneElsesApi_NotFound()
    {
        var owner = await fixture.SignUpProviderAsync();
        var intruder = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.CreatePlanAsync(Valid(api.Id), intruder.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.CreatePlanAsync(Valid(api.Slug), intruder.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        using var rest = fixture.Rest(intruder);
        using var response = await rest.PostAsJsonAsync("v1/plans", new { apiId = api.Id, name = "Mine", requestsPerSecond = 1 }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.NotFound);

        var plans = await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct);
        Assert.Empty(plans.Plans);
    }

    [Fact]
    public async Task CreatePlan_UnknownApi_NotFound()
    {
        var provider = await fixture.SignUpProviderAsync();

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.CreatePlanAsync(Valid("api_00000000000000000000"), provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.CreatePlanAsync(Valid("no-such-api"), provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
    }

    [Fact]
    public async Task CreatePlan_Consumer_PermissionDenied()
    {
        var (_, api, _) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();

        await Expect.StatusAsync(StatusCode.PermissionDenied, () => Client.CreatePlanAsync(Valid(api.Id), consumer.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        using var rest = fixture.Rest(consumer);
        using var response = await rest.PostAsJsonAsync("v1/plans", new { apiId = api.Id, name = "Mine", requestsPerSecond = 1 }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task CreatePlan_Anonymous_Unauthenticated()
    {
        var (_, api, _) = await fixture.ProviderWithPlanAsync();

        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.CreatePlanAsync(Valid(api.Id), deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync);
        using var rest = fixture.Rest();
        using var response = await rest.PostAsJsonAsync("v1/plans", new { apiId = api.Id, name = "Mine", requestsPerSecond = 1 }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task CreatePlan_Admin_OnAnyApiAndProviderStillSeesSubscriptions()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var consumer = await fixture.SignUpConsumerAsync();

        var plan = (await Client.CreatePlanAsync(Valid(api.Id), fixture.Admin.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;
        var subscription = await fixture.SubscribeAsync(consumer, plan);

        var providerView = await Client.ListSubscriptionsAsync(new ListSubscriptionsRequest(), provider.Headers, SubscriptionsFixture.Deadline, Ct);
        Assert.Equal([subscription.Id], providerView.Subscriptions.Select(s => s.Id).ToArray());
    }

    [Fact]
    public async Task ListPlans_ByIdOrSlug_PublicOldestFirst()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var first = await fixture.CreatePlanAsync(provider, api.Id, "Free");
        var second = await fixture.CreatePlanAsync(provider, api.Id, "Pro");
        var third = await fixture.CreatePlanAsync(provider, api.Slug, "Enterprise");
        await fixture.CreatePlanAsync(provider, (await fixture.CreateApiAsync(provider)).Id, "Elsewhere");

        var byId = await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct);
        var bySlug = await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Slug }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct);

        Assert.Equal([first.Id, second.Id, third.Id], byId.Plans.Select(p => p.Id).ToArray());
        Assert.Equal(byId, bySlug);
        using var rest = fixture.Rest();
        var json = await rest.GetFromJsonAsync<JsonElement>($"v1/plans?apiId={api.Slug}", Ct);
        Assert.Equal(3, json.GetProperty("plans").GetArrayLength());
    }

    [Fact]
    public async Task ListPlans_UnknownApi_NotFound()
    {
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.ListPlansAsync(
            new ListPlansRequest { ApiId = "no-such-api" }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync);
        var fields = await Expect.FieldErrorsAsync(() => Client.ListPlansAsync(
            new ListPlansRequest(), deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(["api_id"], fields);

        using var rest = fixture.Rest();
        using var response = await rest.GetAsync("v1/plans?apiId=api_00000000000000000000", Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task GetPlan_UnknownPlan_NotFound()
    {
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.GetPlanAsync(
            new GetPlanRequest { PlanId = "plan_00000000000000000000" }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync);

        using var rest = fixture.Rest();
        using var response = await rest.GetAsync("v1/plans/plan_00000000000000000000", Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
    }
}
