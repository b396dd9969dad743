using System.Globalization;
using System.Net;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.Testing;

namespace Veil.Identity.Tests;

/// <summary>API-key expiry settings, rotation with overlap, API and read-only scopes, and last-used times.</summary>
public sealed class ApiKeyLifecycleTests(IdentityFixture fixture) : IClassFixture<IdentityFixture>
{
    // A chosen date; identity judges its own access tokens by this clock too.
    private static readonly DateTimeOffset Start = new(2026, 3, 10, 14, 25, 0, TimeSpan.Zero);

    private readonly IdentityService.IdentityServiceClient _client = fixture.Client;
    private readonly HttpClient _rest = fixture.Rest;

    [Fact]
    public async Task CreateApiKey_WithApiIdsAndReadOnly_ValidateAndListReturnTheScope()
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var created = await _rest.PostJsonAsync("v1/keys",
            new { name = "dashboard", apiIds = new[] { "api_one", "api-two", "api_one" }, readOnly = true }, account.Session.AccessToken);
        var body = await created.JsonAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body.ToJsonString());
        var validated = await _client.ValidateAsync((string)body["key"]!);
        var listed = Assert.Single((await _client.ListApiKeysAsync(new ListApiKeysRequest(), Api.Call(account.Session.AccessToken))).ApiKeys);

        Assert.Equal(["api_one", "api-two"], body["apiKey"]!["apiIds"]!.AsArray().Select(id => (string)id!));
        Assert.True((bool)body["apiKey"]!["readOnly"]!);
        Assert.True(validated.Valid);
        Assert.Equal(["api_one", "api-two"], validated.ApiIds);
        Assert.True(validated.ReadOnly);
        Assert.Equal(["api_one", "api-two"], listed.ApiIds);
        Assert.True(listed.ReadOnly);
    }

    [Fact]
    public async Task CreateApiKey_WithoutScope_ValidateReturnsAllApisAndAllMethods()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);

        var validated = await _client.ValidateAsync(key.Key);

        Assert.True(validated.Valid);
        Assert.Empty(validated.ApiIds);
        Assert.False(validated.ReadOnly);
    }

    [Theory]
    [InlineData("")]
    [InlineData("api one")]
    [InlineData("api/../x")]
    public async Task CreateApiKey_BadApiId_Returns400NamingApiIds(string apiId)
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var response = await _rest.PostJsonAsync("v1/keys", new { name = "k", apiIds = new[] { apiId } }, account.Session.AccessToken);

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body.ToJsonString());
        Assert.True(body["errors"]!.AsObject().ContainsKey("apiIds"), body.ToJsonString());
    }

    [Fact]
    public async Task CreateApiKey_TooManyApiIds_Returns400()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var request = new CreateApiKeyRequest { Name = "k", ApiIds = { Enumerable.Range(0, 101).Select(i => $"api_{i}") } };

        var ex = await Assert.ThrowsAsync<RpcException>(() => _client.CreateApiKeyAsync(request, Api.Call(account.Session.AccessToken)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
    }

    [Fact]
    public async Task CreateApiKey_ConfiguredLifetimes_DefaultAndBoundFollowConfiguration()
    {
        await using var host = new IdentityHost();
        host.With("Identity:ApiKeys:DefaultLifetime", "30.00:00:00").With("Identity:ApiKeys:MaxLifetime", "45.00:00:00");
        using var channel = host.CreateGrpcChannel();
        using var rest = host.CreateRestClient();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);

        var byDefault = await client.CreateKeyAsync(account.Session.AccessToken);
        var longest = await client.CreateKeyAsync(account.Session.AccessToken, expiresInDays: 45);
        var tooLong = await rest.PostJsonAsync("v1/keys", new { name = "k", expiresInDays = 46 }, account.Session.AccessToken);

        Assert.Equal(TimeSpan.FromDays(30), byDefault.ApiKey.ExpireTime.ToDateTimeOffset() - byDefault.ApiKey.CreateTime.ToDateTimeOffset());
        Assert.Equal(TimeSpan.FromDays(45), longest.ApiKey.ExpireTime.ToDateTimeOffset() - longest.ApiKey.CreateTime.ToDateTimeOffset());
        var body = await tooLong.JsonAsync();
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Contains("between 1 and 45", body["errors"]!["expiresInDays"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_DefaultLifetimeAboveMax_FailsFast()
    {
        await using var host = new IdentityHost();
        host.With("Identity:ApiKeys:DefaultLifetime", "100.00:00:00");

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("DefaultLifetime", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidateApiKey_ExpiredKey_ReturnsInvalidMarkedExpired()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        var key = await client.CreateKeyAsync(account.Session.AccessToken);

        clock.Advance(TimeSpan.FromDays(90) - TimeSpan.FromMilliseconds(1));
        var lastMoment = await client.ValidateAsync(key.Key);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var expired = await client.ValidateAsync(key.Key);

        Assert.True(lastMoment.Valid);
        Assert.Equal(new ValidateApiKeyResponse { Valid = false, Expired = true }, expired);
    }

    [Fact]
    public async Task RotateApiKey_DefaultOverlap_BothWorkFor24HoursThenOnlyTheSuccessor()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        using var rest = host.CreateRestClient();
        var client = host.CreateClient(channel);
        var email = Api.NewEmail();
        var account = await client.SignUpAsync(Role.Consumer, email);
        var old = await client.CreateApiKeyAsync(
            new CreateApiKeyRequest { Name = "ci", ExpiresInDays = 30, ApiIds = { "api_a" }, ReadOnly = true }, Api.Call(account.Session.AccessToken));
        clock.Advance(TimeSpan.FromDays(10));
        // Access tokens last an hour: ten days on, the owner signs in again.
        async Task<string> SignInAsync() =>
            (await client.SignInAsync(new SignInRequest { Email = email, Password = Api.Password }, Api.Call())).Session.AccessToken;
        var token = await SignInAsync();

        var response = await rest.PostJsonAsync($"v1/keys/{old.ApiKey.Id}:rotate", new { }, token);
        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToJsonString());
        var successorKey = (string)body["key"]!;
        var successor = body["apiKey"]!;
        var previous = body["previousApiKey"]!;

        Assert.NotEqual(old.Key, successorKey);
        Assert.NotEqual(old.ApiKey.Id, (string?)successor["id"]);
        Assert.Equal(old.ApiKey.Id, (string?)successor["rotatedFrom"]);
        Assert.Equal("ci", (string?)successor["name"]);
        Assert.Equal(["api_a"], successor["apiIds"]!.AsArray().Select(id => (string)id!));
        Assert.True((bool)successor["readOnly"]!);
        Assert.Equal(Start.AddDays(10 + 30), Time(successor["expireTime"]));
        Assert.Equal(Start.AddDays(10).AddHours(24), Time(previous["expireTime"]));

        clock.Advance(TimeSpan.FromHours(24) - TimeSpan.FromMilliseconds(1));
        Assert.True((await client.ValidateAsync(old.Key)).Valid);
        Assert.True((await client.ValidateAsync(successorKey)).Valid);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(new ValidateApiKeyResponse { Valid = false, Expired = true }, await client.ValidateAsync(old.Key));
        var successorValidation = await client.ValidateAsync(successorKey);
        Assert.True(successorValidation.Valid);
        Assert.Equal(["api_a"], successorValidation.ApiIds);
        Assert.True(successorValidation.ReadOnly);

        var list = await client.ListApiKeysAsync(new ListApiKeysRequest(), Api.Call(await SignInAsync()));
        Assert.Equal([(string)successor["id"]!, old.ApiKey.Id], list.ApiKeys.Select(k => k.Id));
        Assert.Equal(old.ApiKey.Id, list.ApiKeys[0].RotatedFrom);
        Assert.DoesNotContain(successorKey[16..], list.ToString(), StringComparison.Ordinal);
        Assert.Single(await host.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'apikey.rotated' AND target = @id AND detail = @detail;",
            ("@id", old.ApiKey.Id), ("@detail", $"successor={(string)successor["id"]!}")));
    }

    [Fact]
    public async Task RotateApiKey_RequestedOverlap_OverridesDefaultButNeverExtendsTheOldKey()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        var token = account.Session.AccessToken;
        var shortLived = await client.CreateKeyAsync(token, expiresInDays: 1);
        var other = await client.CreateKeyAsync(token);

        var capped = await client.RotateApiKeyAsync(
            new RotateApiKeyRequest { KeyId = shortLived.ApiKey.Id, Overlap = Duration.FromTimeSpan(TimeSpan.FromDays(7)) }, Api.Call(token));
        var immediate = await client.RotateApiKeyAsync(
            new RotateApiKeyRequest { KeyId = other.ApiKey.Id, Overlap = Duration.FromTimeSpan(TimeSpan.Zero) }, Api.Call(token));

        Assert.Equal(shortLived.ApiKey.ExpireTime, capped.PreviousApiKey.ExpireTime);
        Assert.Equal(Start, immediate.PreviousApiKey.ExpireTime.ToDateTimeOffset());
        Assert.Equal(new ValidateApiKeyResponse { Valid = false, Expired = true }, await client.ValidateAsync(other.Key));
        Assert.True((await client.ValidateAsync(immediate.Key)).Valid);
    }

    [Fact]
    public async Task RotateApiKey_OverlapAboveMax_Returns400NamingOverlap()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);

        var response = await _rest.PostJsonAsync($"v1/keys/{key.ApiKey.Id}:rotate", new { overlap = "604801s" }, account.Session.AccessToken);

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body.ToJsonString());
        Assert.True(body["errors"]!.AsObject().ContainsKey("overlap"), body.ToJsonString());
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM api_keys WHERE account_id = @id;", ("@id", account.Account.Id)));
    }

    [Fact]
    public async Task RotateApiKey_Twice_SecondFailsWithConflict()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);
        await _client.RotateApiKeyAsync(new RotateApiKeyRequest { KeyId = key.ApiKey.Id }, Api.Call(account.Session.AccessToken));

        var again = await _rest.PostJsonAsync($"v1/keys/{key.ApiKey.Id}:rotate", new { }, account.Session.AccessToken);

        var body = await again.JsonAsync();
        Assert.True(again.StatusCode == HttpStatusCode.BadRequest, body.ToJsonString());
        Assert.Contains("already rotated", body.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(2, (await fixture.Host.QueryAsync("SELECT 1 FROM api_keys WHERE account_id = @id;", ("@id", account.Account.Id))).Count);
    }

    [Fact]
    public async Task RotateApiKey_ConcurrentRotations_ExactlyOneSuccessor()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            try
            {
                await _client.RotateApiKeyAsync(new RotateApiKeyRequest { KeyId = key.ApiKey.Id }, Api.Call(account.Session.AccessToken));
                return StatusCode.OK;
            }
            catch (RpcException ex)
            {
                return ex.StatusCode;
            }
        })).WaitAsync(TimeSpan.FromSeconds(20), Api.Ct);

        Assert.Single(attempts, s => s == StatusCode.OK);
        Assert.All(attempts.Where(s => s != StatusCode.OK), s => Assert.Equal(StatusCode.FailedPrecondition, s));
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM api_keys WHERE rotated_from = @id;", ("@id", key.ApiKey.Id)));
    }

    [Fact]
    public async Task RotateApiKey_RevokedKey_FailsPrecondition()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);
        await _client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = key.ApiKey.Id }, Api.Call(account.Session.AccessToken));

        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RotateApiKeyAsync(new RotateApiKeyRequest { KeyId = key.ApiKey.Id }, Api.Call(account.Session.AccessToken)).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Contains("revoked", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RotateApiKey_AnotherAccountsKey_Returns404AndKeyIsUntouched()
    {
        var owner = await _client.SignUpAsync(Role.Consumer);
        var stranger = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(owner.Session.AccessToken);

        var response = await _rest.PostJsonAsync($"v1/keys/{key.ApiKey.Id}:rotate", new { overlap = "0s" }, stranger.Session.AccessToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var validated = await _client.ValidateAsync(key.Key);
        Assert.True(validated.Valid);
        Assert.Equal(key.ApiKey.ExpireTime, validated.ExpireTime);
    }

    [Fact]
    public async Task ValidateApiKey_Used_ListShowsLastUsedToTheHourAndMovesOnlyInALaterHour()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        var token = account.Session.AccessToken;
        var key = await client.CreateKeyAsync(token);
        var unused = await ListOneAsync(client, token);

        await client.ValidateAsync(key.Key);
        await LastUsedBecomesAsync(client, token, new DateTimeOffset(2026, 3, 10, 14, 0, 0, TimeSpan.Zero));
        clock.Advance(TimeSpan.FromMinutes(34));
        await client.ValidateAsync(key.Key);
        var sameHour = await host.QueryAsync("SELECT last_used_at FROM api_keys WHERE id = @id;", ("@id", key.ApiKey.Id));
        clock.Advance(TimeSpan.FromMinutes(2));
        await client.ValidateAsync(key.Key);

        Assert.Null(unused.LastUsedTime);
        Assert.Equal(new DateTimeOffset(2026, 3, 10, 14, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), Assert.Single(sameHour)[0]);
        await LastUsedBecomesAsync(client, token, new DateTimeOffset(2026, 3, 10, 15, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public async Task ValidateApiKey_InvalidKeys_RecordNoLastUse()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        var revoked = await client.CreateKeyAsync(account.Session.AccessToken, "revoked");
        var live = await client.CreateKeyAsync(account.Session.AccessToken, "live");
        await client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = revoked.ApiKey.Id }, Api.Call(account.Session.AccessToken));

        await client.ValidateAsync(revoked.Key);
        await client.ValidateAsync(live.Key);

        // The writer handles notes in order of arrival: once the live key's use is stored, the
        // revoked key's (had there been one) would be too.
        await Eventually.HoldsAsync(async () =>
            (await host.QueryAsync("SELECT 1 FROM api_keys WHERE id = @id AND last_used_at IS NOT NULL;", ("@id", live.ApiKey.Id))).Count == 1,
            TimeSpan.FromSeconds(10), "the live key's use is recorded");
        Assert.Empty(await host.QueryAsync("SELECT 1 FROM api_keys WHERE id = @id AND last_used_at IS NOT NULL;", ("@id", revoked.ApiKey.Id)));
    }

    private static async Task<ApiKey> ListOneAsync(IdentityService.IdentityServiceClient client, string token) =>
        Assert.Single((await client.ListApiKeysAsync(new ListApiKeysRequest(), Api.Call(token))).ApiKeys);

    private static Task LastUsedBecomesAsync(IdentityService.IdentityServiceClient client, string token, DateTimeOffset expected) =>
        Eventually.HoldsAsync(async () => (await ListOneAsync(client, token)).LastUsedTime?.ToDateTimeOffset() == expected,
            TimeSpan.FromSeconds(10), $"the listing shows last_used_time {expected:O}");

    private static DateTimeOffset Time(System.Text.Json.Nodes.JsonNode? node) =>
        DateTimeOffset.Parse((string)node!, CultureInfo.InvariantCulture);
}
