using System.Net;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Tests;

/// <summary>CreateApiKey, ListApiKeys, RevokeApiKey and the edge's ValidateApiKey.</summary>
public sealed class ApiKeyTests(IdentityFixture fixture) : IClassFixture<IdentityFixture>
{
    private readonly IdentityService.IdentityServiceClient _client = fixture.Client;
    private readonly HttpClient _rest = fixture.Rest;

    [Fact]
    public async Task CreateApiKey_OverRest_ReturnsTheKeyOnceAndListShowsOnlyItsPrefix()
    {
        var account = await _client.SignUpAsync(Role.Provider);
        var token = account.Session.AccessToken;

        var created = await _rest.PostJsonAsync("v1/keys", new { name = "  ci pipeline  ", expiresInDays = 30 }, token);
        var list = await _rest.GetAsync("v1/keys", token);

        var createdBody = await created.JsonAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, createdBody.ToJsonString());
        Assert.Null(created.Headers.Location);
        var key = (string)createdBody["key"]!;
        Assert.True(ApiKeyFormat.IsWellFormed(key));
        Assert.StartsWith(ApiKeyFormat.LivePrefix, key, StringComparison.Ordinal);
        var apiKey = createdBody["apiKey"]!;
        Assert.StartsWith("key_", (string?)apiKey["id"]);
        Assert.Equal("ci pipeline", (string?)apiKey["name"]);
        Assert.Equal(key[..ApiKeyFormat.DisplayPrefixLength], (string?)apiKey["prefix"]);
        Assert.Equal(["api:read", "api:write", "keys:manage", "usage:read"], apiKey["scopes"]!.AsArray().Select(s => (string)s!));
        var createTime = DateTimeOffset.Parse((string)apiKey["createTime"]!, System.Globalization.CultureInfo.InvariantCulture);
        var expireTime = DateTimeOffset.Parse((string)apiKey["expireTime"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TimeSpan.FromDays(30), expireTime - createTime);
        Assert.Null(apiKey["revokeTime"]);

        var listText = await list.Content.ReadAsStringAsync(Api.Ct);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains((string)apiKey["id"]!, listText, StringComparison.Ordinal);
        Assert.DoesNotContain(key[ApiKeyFormat.DisplayPrefixLength..], listText, StringComparison.Ordinal);
        Assert.DoesNotContain("\"key\"", listText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateApiKey_Stored_OnlyAsKeyedHash()
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var created = await _client.CreateKeyAsync(account.Session.AccessToken);

        var rows = await fixture.Host.QueryAsync("SELECT * FROM api_keys WHERE id = @id;", ("@id", created.ApiKey.Id));
        var row = Assert.Single(rows);
        Assert.DoesNotContain(row, value => value is string s && s.Contains(created.Key[ApiKeyFormat.DisplayPrefixLength..], StringComparison.Ordinal));
        var plainSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(created.Key)));
        Assert.DoesNotContain(row, value => value is string s && s == plainSha256);
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'apikey.created' AND target = @id;", ("@id", created.ApiKey.Id)));
    }

    [Fact]
    public async Task CreateApiKey_WithoutToken_Returns401()
    {
        var response = await _rest.PostJsonAsync("v1/keys", new { name = "x" });
        var ex = await Assert.ThrowsAsync<RpcException>(() => _client.CreateApiKeyAsync(new CreateApiKeyRequest { Name = "x" }, Api.Call()).ResponseAsync);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Theory]
    [InlineData("", 0, "name")]
    [InlineData("   ", 0, "name")]
    [InlineData("tab\there", 0, "name")]
    [InlineData("{101}", 0, "name")]
    [InlineData("ok", -1, "expiresInDays")]
    [InlineData("ok", 91, "expiresInDays")]
    public async Task CreateApiKey_InvalidField_Returns400NamingTheField(string name, int expiresInDays, string field)
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        name = name == "{101}" ? new string('k', 101) : name;

        var response = await _rest.PostJsonAsync("v1/keys", new { name, expiresInDays }, account.Session.AccessToken);

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body.ToJsonString());
        Assert.True(body["errors"]!.AsObject().ContainsKey(field), body.ToJsonString());
        Assert.Empty(await fixture.Host.QueryAsync("SELECT 1 FROM api_keys WHERE account_id = @id;", ("@id", account.Account.Id)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(90)]
    public async Task CreateApiKey_ExpiryInRange_IsHonoured(int days)
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var created = await _client.CreateKeyAsync(account.Session.AccessToken, expiresInDays: days);

        Assert.Equal(TimeSpan.FromDays(days), created.ApiKey.ExpireTime.ToDateTimeOffset() - created.ApiKey.CreateTime.ToDateTimeOffset());
    }

    [Fact]
    public async Task ListApiKeys_OwnKeysOnly_NewestFirst()
    {
        var owner = await _client.SignUpAsync(Role.Consumer);
        var stranger = await _client.SignUpAsync(Role.Consumer);
        var older = await _client.CreateKeyAsync(owner.Session.AccessToken, "older");
        var newer = await _client.CreateKeyAsync(owner.Session.AccessToken, "newer");
        await _client.CreateKeyAsync(stranger.Session.AccessToken, "theirs");

        var list = await _client.ListApiKeysAsync(new ListApiKeysRequest(), Api.Call(owner.Session.AccessToken));

        Assert.Equal([newer.ApiKey.Id, older.ApiKey.Id], list.ApiKeys.Select(k => k.Id));
        Assert.All(list.ApiKeys, k => Assert.Equal(owner.Account.Id, k.AccountId));
    }

    [Fact]
    public async Task ListApiKeys_SmallPages_EachKeyOnceInListOrder_BadTokenIsAFieldError()
    {
        var owner = await _client.SignUpAsync(Role.Consumer);
        var call = Api.Call(owner.Session.AccessToken);
        for (var i = 0; i < 5; i++)
        {
            await _client.CreateKeyAsync(owner.Session.AccessToken, $"key {i}");
        }
        var whole = await _client.ListApiKeysAsync(new ListApiKeysRequest { PageSize = 100 }, call);

        var seen = new List<string>();
        var token = "";
        var pages = 0;
        do
        {
            var page = await _client.ListApiKeysAsync(new ListApiKeysRequest { PageSize = 2, PageToken = token }, Api.Call(owner.Session.AccessToken));
            Assert.True(page.ApiKeys.Count <= 2);
            seen.AddRange(page.ApiKeys.Select(k => k.Id));
            token = page.NextPageToken;
            Assert.True(++pages <= 3, "more pages than five keys need");
        }
        while (token.Length > 0);

        Assert.Equal(5, whole.ApiKeys.Count);
        Assert.Empty(whole.NextPageToken);
        Assert.Equal(whole.ApiKeys.Select(k => k.Id), seen);
        foreach (var (pageToken, field) in new[] { ("garbage", "page_token"), (Veil.ServiceDefaults.Grpc.PageToken.Encode("ListApis", "slug"), "page_token") })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() =>
                _client.ListApiKeysAsync(new ListApiKeysRequest { PageToken = pageToken }, Api.Call(owner.Session.AccessToken)).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Equal([field], error.GetRpcStatus()!.GetDetail<Google.Rpc.BadRequest>().FieldViolations.Select(v => v.Field));
        }
        var rest = await _rest.GetAsync("v1/keys?pageSize=101", owner.Session.AccessToken);
        Assert.Equal(HttpStatusCode.BadRequest, rest.StatusCode);
        Assert.Contains("pageSize", (await rest.JsonAsync())["errors"]!.AsObject().Select(e => e.Key));
    }

    [Fact]
    public async Task RevokeApiKey_AnotherAccountsKey_Returns404AndKeyStaysValid()
    {
        var owner = await _client.SignUpAsync(Role.Consumer);
        var stranger = await _client.SignUpAsync(Role.Provider);
        var key = await _client.CreateKeyAsync(owner.Session.AccessToken);

        var rest = await _rest.PostJsonAsync($"v1/keys/{key.ApiKey.Id}:revoke", new { }, stranger.Session.AccessToken);
        var grpc = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = key.ApiKey.Id }, Api.Call(stranger.Session.AccessToken)).ResponseAsync);
        var strangersList = await _client.ListApiKeysAsync(new ListApiKeysRequest(), Api.Call(stranger.Session.AccessToken));

        Assert.Equal(HttpStatusCode.NotFound, rest.StatusCode);
        Assert.Equal(StatusCode.NotFound, grpc.StatusCode);
        Assert.Empty(strangersList.ApiKeys);
        Assert.True((await _client.ValidateAsync(key.Key)).Valid);
    }

    [Fact]
    public async Task RevokeApiKey_UnknownId_Returns404()
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var response = await _rest.PostJsonAsync("v1/keys/key_doesnotexist:revoke", new { }, account.Session.AccessToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task RevokeApiKey_Twice_IsIdempotentAndKeyIsInvalid()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);
        Assert.True((await _client.ValidateAsync(key.Key)).Valid);

        var first = await _client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = key.ApiKey.Id }, Api.Call(account.Session.AccessToken));
        var second = await _rest.PostJsonAsync($"v1/keys/{key.ApiKey.Id}:revoke", new { }, account.Session.AccessToken);

        Assert.NotNull(first.ApiKey.RevokeTime);
        var secondBody = await second.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(first.ApiKey.RevokeTime.ToDateTimeOffset(),
            DateTimeOffset.Parse((string)secondBody["apiKey"]!["revokeTime"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(new ValidateApiKeyResponse { Valid = false }, await _client.ValidateAsync(key.Key));
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'apikey.revoked' AND target = @id;", ("@id", key.ApiKey.Id)));
    }

    [Fact]
    public async Task WatchKeyChanges_KeyRevoked_ResyncFirstThenTheRevocation()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Api.Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        using var watch = _client.WatchKeyChanges(new WatchKeyChangesRequest { EdgeId = "test" }, cancellationToken: timeout.Token);

        Assert.True(await watch.ResponseStream.MoveNext(timeout.Token));
        var resync = watch.ResponseStream.Current;
        await _client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = key.ApiKey.Id }, Api.Call(account.Session.AccessToken));
        KeyChange? revoked = null;
        var revision = resync.Revision;
        while (revoked is null && await watch.ResponseStream.MoveNext(timeout.Token))
        {
            var message = watch.ResponseStream.Current;
            Assert.False(message.Resync);
            Assert.Equal(revision + message.Changes.Count, message.Revision); // one revision per change, none skipped
            revision = message.Revision;
            revoked = message.Changes.FirstOrDefault(c => c.KeyId == key.ApiKey.Id);
        }

        Assert.True(resync.Resync);
        Assert.Empty(resync.Changes);
        Assert.NotNull(revoked);
        Assert.Equal(account.Account.Id, revoked.AccountId);
        Assert.Equal(KeyChangeKind.Revoked, revoked.Kind);
    }

    [Fact]
    public async Task ValidateApiKey_LiveKey_ReturnsOwnerRoleAndScopes()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var key = await _client.CreateKeyAsync(account.Session.AccessToken);

        var result = await _client.ValidateAsync(key.Key);

        Assert.True(result.Valid);
        Assert.Equal(key.ApiKey.Id, result.KeyId);
        Assert.Equal(account.Account.Id, result.AccountId);
        Assert.Equal(Role.Consumer, result.Role);
        Assert.Equal(["api:read", "keys:manage", "usage:read"], result.Scopes);
        Assert.Equal(key.ApiKey.ExpireTime, result.ExpireTime);
    }

    public static TheoryData<string> MalformedKeys()
    {
        var good = ApiKeyFormat.Generate();
        var flipped = good[..20] + (good[20] == 'a' ? 'b' : 'a') + good[21..];
        return new TheoryData<string>
        {
            "",
            "veil_live_",
            "sk_live_" + good[8..],
            good[..^1],
            good + "1",
            flipped,
            good.Replace("veil_live_", "veil_prod_", StringComparison.Ordinal),
            good[..30] + "0" + good[31..],
        };
    }

    [Theory]
    [MemberData(nameof(MalformedKeys))]
    public async Task ValidateApiKey_Malformed_ReturnsInvalidWithNoDetail(string key)
    {
        var result = await _client.ValidateAsync(key);

        Assert.Equal(new ValidateApiKeyResponse { Valid = false }, result);
    }

    [Fact]
    public async Task ValidateApiKey_WellFormedButUnknown_ReturnsInvalidWithNoDetail()
    {
        var result = await _client.ValidateAsync(ApiKeyFormat.Generate());
        var test = await _client.ValidateAsync(ApiKeyFormat.Generate(live: false));

        Assert.Equal(new ValidateApiKeyResponse { Valid = false }, result);
        Assert.Equal(new ValidateApiKeyResponse { Valid = false }, test);
    }

    [Fact]
    public async Task ValidateApiKey_Expired_ReturnsInvalidMarkedExpired()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        var key = await client.CreateKeyAsync(account.Session.AccessToken, expiresInDays: 1);

        clock.Advance(TimeSpan.FromDays(1) - TimeSpan.FromSeconds(1));
        var beforeExpiry = await client.ValidateAsync(key.Key);
        clock.Advance(TimeSpan.FromSeconds(1));
        var atExpiry = await client.ValidateAsync(key.Key);

        Assert.True(beforeExpiry.Valid);
        Assert.Equal(new ValidateApiKeyResponse { Valid = false, Expired = true }, atExpiry);
    }

    [Fact]
    public async Task ValidateApiKey_AfterRestart_KeysSurviveAndRevocationsHold()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            CreateApiKeyResponse live, revoked;
            await using (var first = new IdentityHost(dataDirectory))
            {
                using var channel = first.CreateGrpcChannel();
                var client = first.CreateClient(channel);
                var account = await client.SignUpAsync(Role.Provider);
                live = await client.CreateKeyAsync(account.Session.AccessToken, "live");
                revoked = await client.CreateKeyAsync(account.Session.AccessToken, "revoked");
                await client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = revoked.ApiKey.Id }, Api.Call(account.Session.AccessToken));
            }

            await using var second = new IdentityHost(dataDirectory);
            using var secondChannel = second.CreateGrpcChannel();
            var restarted = second.CreateClient(secondChannel);

            var liveResult = await restarted.ValidateAsync(live.Key);
            var revokedResult = await restarted.ValidateAsync(revoked.Key);

            Assert.True(liveResult.Valid);
            Assert.Equal(live.ApiKey.Id, liveResult.KeyId);
            Assert.False(revokedResult.Valid);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task ValidateApiKey_ConfiguredHashSecret_StoresHmacUnderThatSecret()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        await using var host = new IdentityHost();
        host.With("Identity:ApiKeyHashSecret", Convert.ToBase64String(secret));
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);

        var key = await client.CreateKeyAsync(account.Session.AccessToken);

        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(key.Key)));
        var stored = Assert.Single(await host.QueryAsync("SELECT key_hash FROM api_keys WHERE id = @id;", ("@id", key.ApiKey.Id)))[0];
        Assert.Equal(expected, stored);
        Assert.Empty(await host.QueryAsync("SELECT 1 FROM secrets;"));
        Assert.True((await client.ValidateAsync(key.Key)).Valid);
    }

    [Fact]
    public async Task Start_HashSecretTooShort_FailsFast()
    {
        await using var host = new IdentityHost();
        host.With("Identity:ApiKeyHashSecret", Convert.ToBase64String(new byte[16]));

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("ApiKeyHashSecret", ex.ToString(), StringComparison.Ordinal);
    }
}
