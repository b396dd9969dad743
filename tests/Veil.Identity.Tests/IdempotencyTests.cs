using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.Testing;

namespace Veil.Identity.Tests;

/// <summary>
/// Idempotency-Key on REST POSTs (docs/architecture.md, "Idempotent requests"), on CreateApiKey:
/// the create whose answer carries a secret shown once.
/// </summary>
public sealed class IdempotencyTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);

    private static async Task<HttpResponseMessage> CreateKeyAsync(HttpClient rest, string token, string idempotencyKey, string name = "laptop")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/keys") { Content = JsonContent.Create(new { name }) };
        request.Headers.Authorization = new("Bearer", token);
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await rest.SendAsync(request, Api.Ct);
    }

    private static async Task<int> KeyCountAsync(IdentityService.IdentityServiceClient client, string token) =>
        (await client.ListApiKeysAsync(new ListApiKeysRequest(), Api.Call(token))).ApiKeys.Count;

    [Fact]
    public async Task CreateApiKey_RetriedWithSameKeyAndBody_ReturnsFirstAnswerAndCreatesOneKey()
    {
        await using var host = new IdentityHost(time: new FakeTimeProvider(Start));
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        using var rest = host.CreateRestClient();
        var account = await client.SignUpAsync(Role.Consumer);
        var token = account.Session.AccessToken;
        var idempotencyKey = Guid.NewGuid().ToString();

        using var first = await CreateKeyAsync(rest, token, idempotencyKey);
        using var retry = await CreateKeyAsync(rest, token, idempotencyKey);

        var firstBody = await first.Content.ReadAsStringAsync(Api.Ct);
        Assert.True(first.StatusCode == HttpStatusCode.Created, firstBody);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(firstBody, await retry.Content.ReadAsStringAsync(Api.Ct));
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(1, await KeyCountAsync(client, token));
        // The answer kept for the retry holds the key shown once, sealed: no copy in the files.
        var key = (string)(await first.JsonAsync())["key"]!;
        Assert.Empty(DatabaseFiles.FindSecrets(host.DataDirectory, "identity", ("api key", Encoding.UTF8.GetBytes(key))));
    }

    [Fact]
    public async Task CreateApiKey_SameKeyDifferentBody_Returns422Problem()
    {
        await using var host = new IdentityHost(time: new FakeTimeProvider(Start));
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        using var rest = host.CreateRestClient();
        var account = await client.SignUpAsync(Role.Consumer);
        var idempotencyKey = Guid.NewGuid().ToString();
        using var first = await CreateKeyAsync(rest, account.Session.AccessToken, idempotencyKey, name: "laptop");

        using var other = await CreateKeyAsync(rest, account.Session.AccessToken, idempotencyKey, name: "server");

        var problem = await other.JsonAsync();
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        Assert.Equal("application/problem+json", other.Content.Headers.ContentType?.MediaType);
        Assert.Equal(422, (int)problem["status"]!);
        Assert.Contains($"Idempotency-Key '{idempotencyKey}' was used with a different request", (string?)problem["detail"]);
        Assert.Equal(1, await KeyCountAsync(client, account.Session.AccessToken));
    }

    [Fact]
    public async Task CreateApiKey_SameKeyOtherCaller_CreatesTheirOwnKey()
    {
        await using var host = new IdentityHost(time: new FakeTimeProvider(Start));
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        using var rest = host.CreateRestClient();
        var ada = await client.SignUpAsync(Role.Consumer);
        var grace = await client.SignUpAsync(Role.Consumer);
        var idempotencyKey = Guid.NewGuid().ToString();

        using var adas = await CreateKeyAsync(rest, ada.Session.AccessToken, idempotencyKey);
        using var graces = await CreateKeyAsync(rest, grace.Session.AccessToken, idempotencyKey);

        Assert.Equal(HttpStatusCode.Created, graces.StatusCode);
        Assert.False(graces.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual((string?)(await adas.JsonAsync())["key"], (string?)(await graces.JsonAsync())["key"]);
        Assert.Equal(1, await KeyCountAsync(client, grace.Session.AccessToken));
    }

    [Fact]
    public async Task CreateApiKey_RetryAfter24Hours_RunsAgain()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        using var rest = host.CreateRestClient();
        var email = Api.NewEmail();
        var account = await client.SignUpAsync(Role.Consumer, email);
        var idempotencyKey = Guid.NewGuid().ToString();
        using var first = await CreateKeyAsync(rest, account.Session.AccessToken, idempotencyKey);
        var firstKey = (string?)(await first.JsonAsync())["key"];

        // Access tokens last an hour: the same account signs in again for each retry.
        clock.Advance(TimeSpan.FromHours(24) - TimeSpan.FromSeconds(1));
        using var withinDay = await CreateKeyAsync(rest, (await client.SignInAsync(email)).Session.AccessToken, idempotencyKey);
        clock.Advance(TimeSpan.FromSeconds(1));
        var token = (await client.SignInAsync(email)).Session.AccessToken;
        using var afterDay = await CreateKeyAsync(rest, token, idempotencyKey);

        Assert.Equal("true", Assert.Single(withinDay.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(firstKey, (string?)(await withinDay.JsonAsync())["key"]);
        Assert.Equal(HttpStatusCode.Created, afterDay.StatusCode);
        Assert.False(afterDay.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual(firstKey, (string?)(await afterDay.JsonAsync())["key"]);
        Assert.Equal(2, await KeyCountAsync(client, token));
    }

    [Fact]
    public async Task CreateApiKey_DuplicateWhileFirstInFlight_Returns409_ThenRunsOnceTheLockLapses()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        using var rest = host.CreateRestClient();
        var account = await client.SignUpAsync(Role.Consumer);
        var idempotencyKey = Guid.NewGuid().ToString();
        using var first = await CreateKeyAsync(rest, account.Session.AccessToken, idempotencyKey);
        // The state the first request leaves while it runs: claimed for a minute, no answer yet.
        var lockedUntil = (Start + TimeSpan.FromMinutes(1)).ToUnixTimeMilliseconds();
        var changed = await host.QueryAsync(
            "UPDATE veil_idempotency_v1 SET answer = NULL, locked_until = @until RETURNING 1;", ("@until", lockedUntil));
        Assert.Single(changed);

        using var duplicate = await CreateKeyAsync(rest, account.Session.AccessToken, idempotencyKey);
        clock.Advance(TimeSpan.FromMinutes(1));
        using var afterLapse = await CreateKeyAsync(rest, account.Session.AccessToken, idempotencyKey);

        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Contains("still in progress", (string?)(await duplicate.JsonAsync())["detail"]);
        Assert.Equal(HttpStatusCode.Created, afterLapse.StatusCode);
        Assert.Equal(2, await KeyCountAsync(client, account.Session.AccessToken));
    }

    [Fact]
    public async Task CreateApiKey_InvalidIdempotencyKey_Returns400()
    {
        await using var host = new IdentityHost(time: new FakeTimeProvider(Start));
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        using var rest = host.CreateRestClient();
        var account = await client.SignUpAsync(Role.Consumer);

        using var response = await CreateKeyAsync(rest, account.Session.AccessToken, new string('k', 256));

        var problem = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotNull(problem["errors"]!["Idempotency-Key"]);
        Assert.Equal(0, await KeyCountAsync(client, account.Session.AccessToken));
    }
}
