using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// Releases of an API (docs/catalog.md, "Releases"): v1 is the API's own configuration, v2 and up
/// have their own upstream and policies; every release change is a new config version (diff and
/// rollback cover it); only the owner or an admin writes, and only they see a release's upstream.
/// </summary>
public sealed class ReleasesTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A sunset far enough ahead for any test run (a chosen date, not now + days).</summary>
    private static readonly Timestamp Sunset = Timestamp.FromDateTimeOffset(new DateTimeOffset(2099, 6, 30, 0, 0, 0, TimeSpan.Zero));

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task CreateRelease_IsANewVersion_DiffShowsIt_RollbackRemovesAndRestoresIt()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        Assert.Equal(["v1"], api.Releases.Select(r => r.Name).ToArray());
        Assert.Equal(api.UpstreamUrl, api.Releases[0].UpstreamUrl);
        Assert.Equal(ApiReleaseState.Active, api.Releases[0].State);

        var created = await Client.CreateApiReleaseAsync(new CreateApiReleaseRequest
        {
            ApiId = api.Id,
            Name = "v2",
            UpstreamUrl = "https://v2.weather.example.com",
            Policies = new ApiPolicies { Retry = new RetryPolicy { MaxRetries = 2 } },
        }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(2, created.Api.CurrentVersion);
        Assert.Equal(["v1", "v2"], created.Api.Releases.Select(r => r.Name).ToArray());
        Assert.Equal("https://v2.weather.example.com", created.Release.UpstreamUrl);
        Assert.Equal(2, created.Release.Policies.Retry.MaxRetries);
        Assert.Equal(ApiReleaseState.Active, created.Release.State);

        var changed = (await Client.UpdateApiReleaseAsync(new UpdateApiReleaseRequest
        {
            ApiId = api.Slug,
            Release = "v2",
            UpstreamUrl = "https://v2b.weather.example.com",
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(3, changed.CurrentVersion);
        Assert.Equal("https://v2b.weather.example.com", changed.Releases[1].UpstreamUrl);
        Assert.Equal(2, changed.Releases[1].Policies.Retry.MaxRetries); // parts left out are kept

        var added = await Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 2 }, owner.Headers, CatalogFixture.Deadline, Ct);
        var whole = Assert.Single(added.Changes);
        Assert.Equal(("releases[v2]", ""), (whole.Field, whole.Before));
        Assert.Contains("https://v2.weather.example.com", whole.After, StringComparison.Ordinal);
        var moved = await Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 3 }, owner.Headers, CatalogFixture.Deadline, Ct);
        var upstream = Assert.Single(moved.Changes);
        Assert.Equal(("releases[v2].upstream_url", "\"https://v2.weather.example.com\"", "\"https://v2b.weather.example.com\""),
            (upstream.Field, upstream.Before, upstream.After));

        // Back to version 1: the release is gone, as a new version; forward to 3: it is back.
        var back = (await Client.RollbackApiAsync(new RollbackApiRequest { ApiId = api.Id, Version = 1 }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(4, back.CurrentVersion);
        Assert.Equal(["v1"], back.Releases.Select(r => r.Name).ToArray());
        var forward = (await Client.RollbackApiAsync(new RollbackApiRequest { ApiId = api.Id, Version = 3 }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(5, forward.CurrentVersion);
        Assert.Equal("https://v2b.weather.example.com", forward.Releases[1].UpstreamUrl);
        var removed = await Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 4 }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(("releases[v2]", ""), (removed.Changes.Single().Field, removed.Changes.Single().After));

        // The same change again: no version.
        var same = (await Client.UpdateApiReleaseAsync(new UpdateApiReleaseRequest
        {
            ApiId = api.Id,
            Release = "v2",
            UpstreamUrl = "https://v2b.weather.example.com",
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(5, same.CurrentVersion);
    }

    [Fact]
    public async Task UpdateRelease_V1_ChangesTheApisOwnUpstreamAndPolicies()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);

        var response = await Client.UpdateApiReleaseAsync(new UpdateApiReleaseRequest
        {
            ApiId = api.Id,
            Release = "v1",
            UpstreamUrl = "https://v1b.weather.example.com",
            Policies = new ApiPolicies { HealthCheck = new HealthCheckPolicy { Path = "/health" } },
        }, owner.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal(2, response.Api.CurrentVersion);
        Assert.Equal("https://v1b.weather.example.com", response.Api.UpstreamUrl);
        Assert.Equal("/health", response.Api.Policies.HealthCheck.Path);
        Assert.Equal(("v1", "https://v1b.weather.example.com"), (response.Release.Name, response.Release.UpstreamUrl));
        Assert.Equal("/health", response.Release.Policies.HealthCheck.Path);
    }

    [Fact]
    public async Task CreateRelease_BadFields_FieldErrors_Duplicate_AlreadyExists_UnknownRelease_NotFound()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiReleaseAsync(new CreateApiReleaseRequest
        {
            ApiId = api.Id,
            Name = "v02",
            // This fixture's catalog keeps the SSRF guard on.
            UpstreamUrl = "http://127.0.0.1:8080",
            Policies = new ApiPolicies { HealthCheck = new HealthCheckPolicy { Path = "no-slash", IntervalMs = 5 } },
        }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Contains("name", fields);
        Assert.Contains("upstream_url", fields);
        Assert.Contains(fields, f => f.StartsWith("policies.health_check", StringComparison.Ordinal));
        foreach (var name in new[] { "", "V2", "v", "v0", "2", "v2a", "v1234567" })
        {
            Assert.Equal(["name"], await Expect.FieldErrorsAsync(() => Client.CreateApiReleaseAsync(new CreateApiReleaseRequest
            {
                ApiId = api.Id, Name = name, UpstreamUrl = "https://v2.weather.example.com",
            }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync));
        }

        var v2 = new CreateApiReleaseRequest { ApiId = api.Id, Name = "v2", UpstreamUrl = "https://v2.weather.example.com" };
        await Client.CreateApiReleaseAsync(v2, owner.Headers, CatalogFixture.Deadline, Ct);
        await Expect.StatusAsync(StatusCode.AlreadyExists, () => Client.CreateApiReleaseAsync(v2, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        var v1 = await Expect.StatusAsync(StatusCode.AlreadyExists, () => Client.CreateApiReleaseAsync(
            new CreateApiReleaseRequest { ApiId = api.Id, Name = "v1", UpstreamUrl = "https://v2.weather.example.com" },
            owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Contains("API's own configuration", v1.Status.Detail, StringComparison.Ordinal);

        var unknown = await Expect.StatusAsync(StatusCode.NotFound, () => Client.UpdateApiReleaseAsync(
            new UpdateApiReleaseRequest { ApiId = api.Id, Release = "v3", UpstreamUrl = "https://v3.weather.example.com" },
            owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Contains("v1, v2", unknown.Status.Detail, StringComparison.Ordinal);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.DeprecateApiReleaseAsync(
            new DeprecateApiReleaseRequest { ApiId = api.Id, Release = "v3" }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(2, (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api.CurrentVersion);
    }

    [Fact]
    public async Task CreateRelease_PastTheLimit_FailedPrecondition()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        // Catalog:MaxReleasesPerApi is 16 by default, v1 included.
        for (var n = 2; n <= 16; n++)
        {
            await Client.CreateApiReleaseAsync(new CreateApiReleaseRequest { ApiId = api.Id, Name = $"v{n}", UpstreamUrl = $"https://v{n}.weather.example.com" },
                owner.Headers, CatalogFixture.Deadline, Ct);
        }

        var refused = await Expect.StatusAsync(StatusCode.FailedPrecondition, () => Client.CreateApiReleaseAsync(
            new CreateApiReleaseRequest { ApiId = api.Id, Name = "v17", UpstreamUrl = "https://v17.weather.example.com" },
            owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Contains("Catalog:MaxReleasesPerApi", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(16, (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api.Releases.Count);
    }

    [Fact]
    public async Task DeprecateRelease_SetsStateAndTimes_KeepsTheFirstDate_BadSunsetOrLink_FieldErrors()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        await Client.CreateApiReleaseAsync(new CreateApiReleaseRequest { ApiId = api.Id, Name = "v2", UpstreamUrl = "https://v2.weather.example.com" },
            owner.Headers, CatalogFixture.Deadline, Ct);

        var deprecated = await Client.DeprecateApiReleaseAsync(new DeprecateApiReleaseRequest
        {
            ApiId = api.Id, Release = "v1", SunsetTime = Sunset, Link = "https://weather.example.com/migrate",
        }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(3, deprecated.Api.CurrentVersion);
        Assert.Equal(ApiReleaseState.Deprecated, deprecated.Release.State);
        Assert.NotNull(deprecated.Release.DeprecateTime);
        Assert.Equal(Sunset, deprecated.Release.SunsetTime);
        Assert.Equal("https://weather.example.com/migrate", deprecated.Release.DeprecationLink);
        Assert.Equal(ApiReleaseState.Active, deprecated.Api.Releases[1].State);
        // The deprecation of v1 does not touch the API's own upstream.
        Assert.Equal(api.UpstreamUrl, deprecated.Api.UpstreamUrl);

        // Again without a sunset: the sunset goes, the deprecation date stays.
        var again = await Client.DeprecateApiReleaseAsync(new DeprecateApiReleaseRequest { ApiId = api.Id, Release = "v1" }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(4, again.Api.CurrentVersion);
        Assert.Null(again.Release.SunsetTime);
        Assert.Equal(deprecated.Release.DeprecateTime, again.Release.DeprecateTime);
        var diff = await Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 3 }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(["releases[v1].state", "releases[v1].deprecate_time", "releases[v1].sunset_time", "releases[v1].deprecation_link"],
            diff.Changes.Select(c => c.Field).ToArray());

        var fields = await Expect.FieldErrorsAsync(() => Client.DeprecateApiReleaseAsync(new DeprecateApiReleaseRequest
        {
            ApiId = api.Id,
            Release = "v2",
            SunsetTime = Timestamp.FromDateTimeOffset(new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            Link = "http://weather.example.com/not-https",
        }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["sunset_time", "link"], fields);
    }

    [Fact]
    public async Task ReleaseWrites_SomeoneElsesApi_NotFound_ForEveryRole()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        var stranger = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();

        foreach (var caller in new[] { stranger, consumer })
        {
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.CreateApiReleaseAsync(
                new CreateApiReleaseRequest { ApiId = api.Id, Name = "v2", UpstreamUrl = "https://v2.weather.example.com" },
                caller.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.UpdateApiReleaseAsync(
                new UpdateApiReleaseRequest { ApiId = api.Id, Release = "v1", UpstreamUrl = "https://evil.example.com" },
                caller.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.DeprecateApiReleaseAsync(
                new DeprecateApiReleaseRequest { ApiId = api.Id, Release = "v1" }, caller.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        }
        Assert.Equal(1, (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api.CurrentVersion);

        // An admin may.
        var byAdmin = await Client.CreateApiReleaseAsync(new CreateApiReleaseRequest { ApiId = api.Id, Name = "v2", UpstreamUrl = "https://v2.weather.example.com" },
            fixture.Admin.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(2, byAdmin.Api.CurrentVersion);
    }

    [Fact]
    public async Task Releases_ConsumersAndAnonymousSeeNamesAndStates_NeverAnUpstreamOrPolicies_OverRestToo()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        using var ownerRest = fixture.Rest(owner);
        using var created = await ownerRest.PostAsJsonAsync($"v1/apis/{api.Id}/releases", new
        {
            name = "v2",
            upstreamUrl = "https://secret-v2.weather.example.com",
            policies = new { healthCheck = new { path = "/health" } },
        }, Ct);
        var createdText = await created.Content.ReadAsStringAsync(Ct);
        Assert.True(created.IsSuccessStatusCode, $"{(int)created.StatusCode}: {createdText}");
        Assert.Equal("v2", JsonNode.Parse(createdText)!["release"]!["name"]!.GetValue<string>());
        using var deprecate = await ownerRest.PostAsJsonAsync($"v1/apis/{api.Id}/releases/v1:deprecate", new { sunsetTime = "2099-06-30T00:00:00Z" }, Ct);
        Assert.True(deprecate.IsSuccessStatusCode, await deprecate.Content.ReadAsStringAsync(Ct));
        using var patch = await ownerRest.PatchAsJsonAsync($"v1/apis/{api.Id}/releases/v2", new { upstreamUrl = "https://secret-v2b.weather.example.com" }, Ct);
        Assert.True(patch.IsSuccessStatusCode, await patch.Content.ReadAsStringAsync(Ct));
        using var duplicate = await ownerRest.PostAsJsonAsync($"v1/apis/{api.Id}/releases", new { name = "v2", upstreamUrl = "https://v2.weather.example.com" }, Ct);
        await Expect.ProblemAsync(duplicate, HttpStatusCode.Conflict);

        var consumer = await fixture.SignUpConsumerAsync();
        foreach (var reader in new TestAccount?[] { consumer, null })
        {
            var headers = reader?.Headers ?? [];
            var seen = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, headers, CatalogFixture.Deadline, Ct)).Api;
            Assert.Equal(["v1", "v2"], seen.Releases.Select(r => r.Name).ToArray());
            Assert.Equal([ApiReleaseState.Deprecated, ApiReleaseState.Active], seen.Releases.Select(r => r.State).ToArray());
            Assert.Equal(Sunset, seen.Releases[0].SunsetTime);
            Assert.All(seen.Releases, r => Assert.Equal("", r.UpstreamUrl));
            Assert.All(seen.Releases, r => Assert.Null(r.Policies));
            var listed = (await Client.ListApisAsync(new ListApisRequest { ProviderId = owner.Id }, headers, CatalogFixture.Deadline, Ct)).Apis.Single();
            Assert.DoesNotContain("secret-v2", listed.ToString(), StringComparison.Ordinal);
            Assert.Equal(2, listed.Releases.Count);
        }
        using var anonymous = fixture.Rest();
        var text = await anonymous.GetStringAsync($"v1/apis/{api.Slug}", Ct);
        Assert.DoesNotContain("secret-v2", text, StringComparison.Ordinal);
        Assert.DoesNotContain("/health", text, StringComparison.Ordinal);
        Assert.Contains("\"v2\"", text, StringComparison.Ordinal);

        // The owner sees them.
        var own = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal("https://secret-v2b.weather.example.com", own.Releases[1].UpstreamUrl);
        Assert.Equal("/health", own.Releases[1].Policies.HealthCheck.Path);
    }
}
