using System.Net;
using System.Net.Http.Json;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// The API lifecycle (docs/catalog.md, "Lifecycle: suspend, deprecate, delete"): transitions move
/// the state without a config version but with a new gateway revision, refused transitions are 409
/// saying the state and what to do, only the owner or an admin may, sunsets are validated, and a
/// retired API stays readable by its owner only.
/// </summary>
public sealed class LifecycleTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DateTime Deadline => CatalogFixture.Deadline;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task Lifecycle_SuspendResumeDeprecateDelete_MovesTheStateWithoutAConfigVersion_AndReachesTheEdgesAsARevision()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        Assert.Equal(ApiState.Active, api.State);
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        watch.CancelAfter(TimeSpan.FromSeconds(30));
        using var call = Client.WatchAs("lifecycle", watch.Token);
        var initial = await NextWhereAsync(call, c => c.Routes.Any(r => r.ApiId == api.Id), watch.Token);
        Assert.Equal(ApiState.Unspecified, initial.Routes.Single(r => r.ApiId == api.Id).State);

        var suspended = (await Client.SuspendApiAsync(new SuspendApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct)).Api;
        Assert.Equal((ApiState.Suspended, 1L), (suspended.State, suspended.CurrentVersion));
        var seen = await NextWhereAsync(call, c => c.Routes.Single(r => r.ApiId == api.Id).State == ApiState.Suspended, watch.Token);
        Assert.True(seen.Revision > initial.Revision);

        var resumed = (await Client.ResumeApiAsync(new ResumeApiRequest { ApiId = api.Slug }, owner.Headers, Deadline, Ct)).Api;
        Assert.Equal(ApiState.Active, resumed.State);
        await NextWhereAsync(call, c => c.Routes.Single(r => r.ApiId == api.Id).State == ApiState.Unspecified, watch.Token);

        var sunset = DateTimeOffset.UtcNow.AddDays(90);
        var deprecated = (await Client.DeprecateApiAsync(new DeprecateApiRequest
        {
            ApiId = api.Id,
            SunsetTime = sunset.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"),
            Link = "https://docs.example.com/weather/v2-migration",
        }, owner.Headers, Deadline, Ct)).Api;
        Assert.Equal(ApiState.Deprecated, deprecated.State);
        Assert.NotNull(deprecated.DeprecateTime);
        Assert.Equal(sunset.ToUnixTimeSeconds(), deprecated.SunsetTime.ToDateTimeOffset().ToUnixTimeSeconds());
        var route = (await NextWhereAsync(call, c => c.Routes.Single(r => r.ApiId == api.Id).State == ApiState.Deprecated, watch.Token))
            .Routes.Single(r => r.ApiId == api.Id);
        Assert.Equal((deprecated.DeprecateTime, deprecated.SunsetTime, "https://docs.example.com/weather/v2-migration"),
            (route.DeprecateTime, route.SunsetTime, route.DeprecationLink));

        // Deleting a deprecated API keeps its deprecation time and its sunset (still ahead).
        var deleted = (await Client.DeleteApiAsync(new DeleteApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct)).Api;
        Assert.Equal(ApiState.Retiring, deleted.State);
        Assert.Equal((deprecated.DeprecateTime, deprecated.SunsetTime), (deleted.DeprecateTime, deleted.SunsetTime));
        await NextWhereAsync(call, c => c.Routes.Single(r => r.ApiId == api.Id).State == ApiState.Retiring, watch.Token);

        // The configuration history is untouched: still version 1 only.
        var versions = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct)).Versions;
        Assert.Equal([1L], versions.Select(v => v.Version).ToArray());
        var read = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct)).Api;
        Assert.Equal((ApiState.Retiring, 1L), (read.State, read.CurrentVersion));
    }

    [Fact]
    public async Task Lifecycle_Delete_WithoutASunset_DefaultsToThirtyDays_AndTheAdminMayAct()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        var before = DateTimeOffset.UtcNow;

        var deleted = (await Client.DeleteApiAsync(new DeleteApiRequest { ApiId = api.Id }, fixture.Admin.Headers, Deadline, Ct)).Api;

        Assert.Equal(ApiState.Retiring, deleted.State);
        var sunset = deleted.SunsetTime.ToDateTimeOffset();
        Assert.InRange(sunset, before.AddDays(30), DateTimeOffset.UtcNow.AddDays(30));
    }

    [Fact]
    public async Task Lifecycle_SomeoneElsesApi_NotFoundOnEveryRoute()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        var stranger = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();

        foreach (var caller in new[] { stranger, consumer })
        {
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.SuspendApiAsync(new SuspendApiRequest { ApiId = api.Id }, caller.Headers, Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.ResumeApiAsync(new ResumeApiRequest { ApiId = api.Id }, caller.Headers, Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.DeprecateApiAsync(new DeprecateApiRequest { ApiId = api.Id }, caller.Headers, Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.DeleteApiAsync(new DeleteApiRequest { ApiId = api.Id }, caller.Headers, Deadline, Ct).ResponseAsync);
            using var rest = fixture.Rest(caller);
            foreach (var action in new[] { "suspend", "resume", "deprecate" })
            {
                using var response = await rest.PostAsJsonAsync($"v1/apis/{api.Id}:{action}", new { }, Ct);
                await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
            }
            using (var response = await rest.DeleteAsync($"v1/apis/{api.Id}", Ct))
            {
                await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
            }
        }

        // Nothing changed.
        var read = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct)).Api;
        Assert.Equal(ApiState.Active, read.State);
    }

    [Fact]
    public async Task Lifecycle_TransitionsTheStateForbids_409NamingTheStateAndWhatToDo()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        using var rest = fixture.Rest(owner);

        using (var response = await rest.PostAsJsonAsync($"v1/apis/{api.Id}:resume", new { }, Ct))
        {
            var problem = await Expect.ProblemAsync(response, HttpStatusCode.Conflict);
            Assert.Contains("is ACTIVE", problem.GetProperty("detail").GetString());
            Assert.Contains("nothing to resume", problem.GetProperty("detail").GetString());
        }

        await Client.SuspendApiAsync(new SuspendApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct);
        var again = await Expect.StatusAsync(StatusCode.Aborted, () => Client.SuspendApiAsync(new SuspendApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct).ResponseAsync);
        Assert.Contains("is SUSPENDED", again.Status.Detail);
        Assert.Contains($"POST /v1/apis/{api.Id}:resume", again.Status.Detail);
        using (var response = await rest.DeleteAsync($"v1/apis/{api.Id}", Ct))
        {
            var problem = await Expect.ProblemAsync(response, HttpStatusCode.Conflict);
            Assert.Contains("Resume it first", problem.GetProperty("detail").GetString());
        }

        await Client.ResumeApiAsync(new ResumeApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct);
        await Client.DeleteApiAsync(new DeleteApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct);
        var twice = await Expect.StatusAsync(StatusCode.Aborted, () => Client.DeleteApiAsync(new DeleteApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct).ResponseAsync);
        Assert.Contains("is RETIRING", twice.Status.Detail);
        Assert.Contains("already deleted", twice.Status.Detail);
        await Expect.StatusAsync(StatusCode.Aborted, () => Client.SuspendApiAsync(new SuspendApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.Aborted, () => Client.DeprecateApiAsync(new DeprecateApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct).ResponseAsync);
    }

    [Theory]
    [InlineData("2020-01-01T00:00:00Z")]
    [InlineData("tomorrow")]
    [InlineData("2030-02-30T00:00:00Z")]
    [InlineData("2030-01-01 00:00:00")]
    public async Task Lifecycle_SunsetInThePastOrMalformed_400WithTheFieldError(string sunset)
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        using var rest = fixture.Rest(owner);

        using (var response = await rest.PostAsJsonAsync($"v1/apis/{api.Id}:deprecate", new { sunsetTime = sunset }, Ct))
        {
            var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.Equal(["sunset_time"], Expect.ProblemFields(problem).Select(f => f.Replace("sunsetTime", "sunset_time", StringComparison.Ordinal)).ToArray());
        }
        using (var response = await rest.DeleteAsync($"v1/apis/{api.Id}?sunsetTime={Uri.EscapeDataString(sunset)}", Ct))
        {
            var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.Single(Expect.ProblemFields(problem));
        }
        Assert.Equal(["link"], await Expect.FieldErrorsAsync(() => Client.DeprecateApiAsync(
            new DeprecateApiRequest { ApiId = api.Id, Link = "javascript:alert(1)" }, owner.Headers, Deadline, Ct).ResponseAsync));

        // Nothing changed.
        var read = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct)).Api;
        Assert.Equal(ApiState.Active, read.State);
    }

    [Fact]
    public async Task Lifecycle_DeletedApiPastItsSunset_IsRetired_ReadableAndListedForItsOwnerOnly()
    {
        var start = HardDates.Ordinary;
        var clock = new FakeTimeProvider(start);
        await using var catalog = fixture.NewCatalogHost().WithServices(s => s.AddSingleton<TimeProvider>(clock)).Start();
        using var channel = catalog.CreateGrpcChannel();
        var client = new CatalogService.CatalogServiceClient(channel);
        var owner = await fixture.SignUpProviderAsync();
        var api = (await client.CreateApiAsync(new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Old", UpstreamUrl = "https://old.example.com" },
            owner.Headers, Deadline, Ct)).Api;
        var sunset = start.AddDays(7);

        var deleted = (await client.DeleteApiAsync(new DeleteApiRequest { ApiId = api.Id, SunsetTime = "2026-06-24T10:00:00Z" }, owner.Headers, Deadline, Ct)).Api;
        Assert.Equal(sunset, deleted.SunsetTime.ToDateTimeOffset());
        // Before the sunset anyone still reads it (RETIRING).
        Assert.Equal(ApiState.Retiring, (await client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct)).Api.State);

        clock.SetUtcNow(sunset);

        var own = (await client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct)).Api;
        Assert.Equal(ApiState.Retired, own.State);
        await Expect.StatusAsync(StatusCode.NotFound, () => client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct).ResponseAsync);
        var anonymous = (await client.ListApisAsync(new ListApisRequest { ProviderId = owner.Id }, deadline: Deadline, cancellationToken: Ct)).Apis;
        Assert.Empty(anonymous);
        var listed = (await client.ListApisAsync(new ListApisRequest { ProviderId = owner.Id }, owner.Headers, Deadline, Ct)).Apis;
        Assert.Equal([api.Id], listed.Select(a => a.Id).ToArray());
        var retired = await Expect.StatusAsync(StatusCode.Aborted, () => client.ResumeApiAsync(new ResumeApiRequest { ApiId = api.Id }, owner.Headers, Deadline, Ct).ResponseAsync);
        Assert.Contains("is RETIRED", retired.Status.Detail);
    }

    private static async Task<GatewayConfig> NextWhereAsync(AsyncServerStreamingCall<GatewayConfig> call, Func<GatewayConfig, bool> condition, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(5));
        while (await call.ResponseStream.MoveNext(bounded.Token))
        {
            if (condition(call.ResponseStream.Current))
            {
                return call.ResponseStream.Current;
            }
        }
        throw new InvalidOperationException("The stream ended before the expected config arrived.");
    }
}
