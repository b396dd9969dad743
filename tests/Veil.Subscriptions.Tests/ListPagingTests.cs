using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

/// <summary>ListPlans and ListSubscriptions page with the shared page tokens.</summary>
public sealed class ListPagingTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SubscriptionService.SubscriptionServiceClient Client => fixture.Client;

    [Fact]
    public async Task ListPlans_SmallPages_EachPlanOnceOldestFirst()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add((await fixture.CreatePlanAsync(provider, api.Id, $"Plan {i}")).Id);
        }

        var seen = new List<string>();
        var token = "";
        var pages = 0;
        do
        {
            var page = await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Slug, PageSize = 2, PageToken = token },
                deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct);
            Assert.True(page.Plans.Count <= 2);
            seen.AddRange(page.Plans.Select(p => p.Id));
            token = page.NextPageToken;
            Assert.True(++pages <= 3, "more pages than five plans need");
        }
        while (token.Length > 0);

        Assert.Equal(created, seen);
    }

    [Fact]
    public async Task ListSubscriptions_SmallPages_EachSubscriptionOnceNewestFirst_OverRestToo()
    {
        var (provider, api, plan) = await fixture.ProviderWithPlanAsync();
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add((await fixture.SubscribeAsync(await fixture.SignUpConsumerAsync(), plan)).Id);
        }
        created.Reverse();

        var seen = new List<string>();
        var token = "";
        var pages = 0;
        do
        {
            var page = await Client.ListSubscriptionsAsync(new ListSubscriptionsRequest { ApiId = api.Id, PageSize = 2, PageToken = token },
                provider.Headers, SubscriptionsFixture.Deadline, Ct);
            seen.AddRange(page.Subscriptions.Select(s => s.Id));
            token = page.NextPageToken;
            Assert.True(++pages <= 3, "more pages than five subscriptions need");
        }
        while (token.Length > 0);
        Assert.Equal(created, seen);

        using var rest = fixture.Rest(provider);
        var first = await rest.GetFromJsonAsync<JsonElement>($"v1/subscriptions?apiId={api.Id}&pageSize=3", Ct);
        var next = first.GetProperty("nextPageToken").GetString();
        var second = await rest.GetFromJsonAsync<JsonElement>($"v1/subscriptions?apiId={api.Id}&pageSize=3&pageToken={next}", Ct);
        Assert.Equal(created,
            first.GetProperty("subscriptions").EnumerateArray().Concat(second.GetProperty("subscriptions").EnumerateArray())
                .Select(s => s.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task Lists_BadPageToken_FieldErrorOnPageToken_OverRestAProblem()
    {
        var (provider, api, plan) = await fixture.ProviderWithPlanAsync();
        await fixture.CreatePlanAsync(provider, api.Id);
        await fixture.SubscribeAsync(await fixture.SignUpConsumerAsync(), plan);
        await fixture.SubscribeAsync(await fixture.SignUpConsumerAsync(), plan);
        var plansToken = (await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Id, PageSize = 1 },
            deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct)).NextPageToken;
        var filteredToken = (await Client.ListSubscriptionsAsync(new ListSubscriptionsRequest { ApiId = api.Id, PageSize = 1 },
            provider.Headers, SubscriptionsFixture.Deadline, Ct)).NextPageToken;
        Assert.NotEmpty(plansToken);
        Assert.NotEmpty(filteredToken);
        var otherApi = await fixture.CreateApiAsync(provider);

        // Garbage, another list's token, the same list's token with another filter.
        Assert.Equal(["page_token"], await Expect.FieldErrorsAsync(() => Client.ListPlansAsync(
            new ListPlansRequest { ApiId = api.Id, PageToken = "%%" }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync));
        Assert.Equal(["page_token"], await Expect.FieldErrorsAsync(() => Client.ListPlansAsync(
            new ListPlansRequest { ApiId = otherApi.Id, PageToken = plansToken }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync));
        Assert.Equal(["page_token"], await Expect.FieldErrorsAsync(() => Client.ListSubscriptionsAsync(
            new ListSubscriptionsRequest { PageToken = plansToken }, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync));
        Assert.Equal(["page_token"], await Expect.FieldErrorsAsync(() => Client.ListSubscriptionsAsync(
            new ListSubscriptionsRequest { PageToken = filteredToken }, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync));
        Assert.Equal(["page_size"], await Expect.FieldErrorsAsync(() => Client.ListSubscriptionsAsync(
            new ListSubscriptionsRequest { PageSize = Paging.MaxPageSize + 1 }, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync));

        using var rest = fixture.Rest(provider);
        using var response = await rest.GetAsync($"v1/subscriptions?pageToken={plansToken}", Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["pageToken"], Expect.ProblemFields(problem));
    }
}
