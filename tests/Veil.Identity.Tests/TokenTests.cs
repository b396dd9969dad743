using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Tests;

/// <summary>Access tokens, the published keys and refresh-token rotation.</summary>
public sealed class TokenTests(IdentityFixture fixture) : IClassFixture<IdentityFixture>
{
    private readonly IdentityService.IdentityServiceClient _client = fixture.Client;
    private readonly HttpClient _rest = fixture.Rest;

    [Theory]
    [InlineData(Role.Consumer, "consumer", "api:read keys:manage usage:read")]
    [InlineData(Role.Provider, "provider", "api:read api:write keys:manage usage:read")]
    public async Task AccessToken_FromSignUp_ValidatesAgainstServedJwks(Role role, string roleClaim, string scopes)
    {
        var account = await _client.SignUpAsync(role);

        var result = await ValidateWithServedKeysAsync(_rest, account.Session.AccessToken);

        Assert.True(result.IsValid, result.Exception?.ToString());
        var token = (JsonWebToken)result.SecurityToken;
        Assert.Equal("ES256", token.Alg);
        Assert.Equal("at+jwt", token.Typ);
        Assert.False(string.IsNullOrEmpty(token.Kid));
        Assert.Equal(account.Account.Id, token.Subject);
        Assert.Equal(roleClaim, token.GetClaim("role").Value);
        Assert.Equal(scopes, token.GetClaim("scope").Value);
        Assert.Equal(account.Account.Email, token.GetClaim("email").Value);
        Assert.Equal(TimeSpan.FromHours(1), token.ValidTo - token.IssuedAt);
        Assert.Equal(token.ValidTo, account.Session.AccessTokenExpireTime.ToDateTime());
    }

    [Fact]
    public async Task AccessToken_SignedByAnotherKey_FailsAgainstServedJwksAndIsRefused()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var original = new JsonWebToken(account.Session.AccessToken);
        using var stranger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var forged = new JsonWebTokenHandler().CreateToken(Base64UrlEncoder.Decode(original.EncodedPayload),
            new SigningCredentials(new ECDsaSecurityKey(stranger) { KeyId = original.Kid }, SecurityAlgorithms.EcdsaSha256),
            new Dictionary<string, object> { [JwtHeaderParameterNames.Typ] = "at+jwt" });

        var result = await ValidateWithServedKeysAsync(_rest, forged);
        var response = await _rest.GetAsync("v1/accounts/me", forged);

        // Well-formed and typed like an access token: only the signature is wrong.
        Assert.Equal(account.Account.Id, new JsonWebToken(forged).Subject);
        Assert.IsAssignableFrom<SecurityTokenInvalidSignatureException>(result.Exception);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task OpenIdConfiguration_PointsAtConfiguredPublicJwksWithEcKeys()
    {
        var configuration = await _rest.GetFromJsonAsync<JsonObject>(".well-known/openid-configuration", Api.Ct);
        var jwks = await _rest.GetFromJsonAsync<JsonObject>(".well-known/jwks.json", Api.Ct);

        Assert.Equal("veil-identity", (string?)configuration!["issuer"]);
        // Identity:PublicBaseUrl's default: the edge of a local run.
        Assert.Equal("http://localhost:8080/.well-known/jwks.json", (string?)configuration["jwks_uri"]);
        var key = Assert.Single(jwks!["keys"]!.AsArray())!;
        Assert.Equal("EC", (string?)key["kty"]);
        Assert.Equal("P-256", (string?)key["crv"]);
        Assert.Equal("ES256", (string?)key["alg"]);
        Assert.Equal("sig", (string?)key["use"]);
        Assert.Null(key["d"]);
        Assert.False(string.IsNullOrEmpty((string?)key["x"]));
        Assert.False(string.IsNullOrEmpty((string?)key["y"]));
    }

    [Fact]
    public async Task AccessToken_ValidatedLikeOtherServices_ThroughOpenIdMetadata()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        // What JwtBearer does in every other service (AddVeilAuthentication): the metadata, then the
        // keys from identity's own address (the metadata's jwks_uri is the public one).
        var manager = new ConfigurationManager<OpenIdConnectConfiguration>(
            new Uri(fixture.Host.HttpUrl, ".well-known/openid-configuration").ToString(),
            new AuthorityJwksRetriever(new Uri(fixture.Host.HttpUrl, ".well-known/jwks.json").ToString()),
            new HttpDocumentRetriever { RequireHttps = false });

        var configuration = await manager.GetConfigurationAsync(Api.Ct);
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(account.Session.AccessToken, new TokenValidationParameters
        {
            ValidIssuer = configuration.Issuer,
            ValidAudience = "veil-api",
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            ValidTypes = ["at+jwt"],
            IssuerSigningKeys = configuration.SigningKeys,
        });

        Assert.True(result.IsValid, result.Exception?.ToString());
        Assert.Equal(account.Account.Id, result.Claims["sub"]);
    }

    [Theory]
    [InlineData("Host", "evil.example")]
    [InlineData("X-Forwarded-Host", "evil.example")]
    [InlineData("X-Forwarded-Proto", "gopher")]
    public async Task OpenIdConfiguration_ForgedHostHeaders_StillNamesConfiguredPublicUrl(string header, string value)
    {
        await using var host = new IdentityHost();
        host.With("Identity:PublicBaseUrl", "https://api.veil.example/");
        using var rest = host.CreateRestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, ".well-known/openid-configuration");
        if (header == "Host")
        {
            request.Headers.Host = value;
        }
        else
        {
            request.Headers.TryAddWithoutValidation(header, value);
        }

        using var response = await rest.SendAsync(request, Api.Ct);

        var configuration = await response.JsonAsync();
        Assert.Equal("https://api.veil.example/.well-known/jwks.json", (string?)configuration["jwks_uri"]);
    }

    [Fact]
    public async Task Start_PublicBaseUrlNotAnHttpUrl_FailsNamingTheSetting()
    {
        await using var host = new IdentityHost();
        host.With("Identity:PublicBaseUrl", "ftp://api.veil.example");

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("Identity:PublicBaseUrl", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RefreshSession_LiveToken_RotatesAndIssuesWorkingTokens()
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var response = await _rest.PostJsonAsync("v1/auth/refresh", new { refreshToken = account.Session.RefreshToken });

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToJsonString());
        var refreshed = body["session"]!;
        Assert.NotEqual(account.Session.RefreshToken, (string?)refreshed["refreshToken"]);
        var me = await _client.GetMeAsync(new GetMeRequest(), Api.Call((string)refreshed["accessToken"]!));
        Assert.Equal(account.Account.Id, me.Account.Id);
        var again = await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = (string)refreshed["refreshToken"]! }, Api.Call());
        Assert.Equal("Bearer", again.Session.TokenType);
    }

    [Fact]
    public async Task RefreshSession_UsedTokenPresentedAgain_RevokesTheWholeFamily()
    {
        var account = await _client.SignUpAsync(Role.Provider);
        var first = account.Session.RefreshToken;
        var second = (await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = first }, Api.Call())).Session.RefreshToken;
        // An unrelated session of the same account (another sign-in) must survive.
        var otherSession = (await _client.SignInAsync(new SignInRequest { Email = account.Account.Email, Password = Api.Password }, Api.Call())).Session;

        var reuse = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = first }, Api.Call()).ResponseAsync);
        var descendant = await _rest.PostJsonAsync("v1/auth/refresh", new { refreshToken = second });

        Assert.Equal(StatusCode.Unauthenticated, reuse.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, descendant.StatusCode);
        await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = otherSession.RefreshToken }, Api.Call());
        var audit = await fixture.Host.QueryAsync("SELECT target FROM audit_log WHERE action = 'auth.refresh_reuse_detected' AND account_id = @id;", ("@id", account.Account.Id));
        Assert.Single(audit);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-token")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task RefreshSession_UnknownOrMalformedToken_Returns401(string token)
    {
        var response = await _rest.PostJsonAsync("v1/auth/refresh", new { refreshToken = token });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task RefreshSession_AfterSlidingFourteenDays_Returns401()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero));
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        Assert.Equal(clock.GetUtcNow().AddDays(14), account.Session.RefreshTokenExpireTime.ToDateTimeOffset());

        clock.Advance(TimeSpan.FromDays(14));
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = account.Session.RefreshToken }, Api.Call()).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Fact]
    public async Task AccessToken_AfterOneHourAndSkew_IsRefused()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);

        clock.Advance(TimeSpan.FromMinutes(60));
        await client.GetMeAsync(new GetMeRequest(), Api.Call(account.Session.AccessToken)); // within the 30 s skew
        clock.Advance(TimeSpan.FromSeconds(31));
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            client.GetMeAsync(new GetMeRequest(), Api.Call(account.Session.AccessToken)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Fact]
    public async Task Tokens_AfterRestart_StillValidWithTheSameKey()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            SignUpResponse account;
            string kid;
            await using (var first = new IdentityHost(dataDirectory))
            {
                using var channel = first.CreateGrpcChannel();
                account = await first.CreateClient(channel).SignUpAsync(Role.Provider);
                kid = new JsonWebToken(account.Session.AccessToken).Kid;
            }

            await using var second = new IdentityHost(dataDirectory);
            using var rest = second.CreateRestClient();
            using var secondChannel = second.CreateGrpcChannel();
            var client = second.CreateClient(secondChannel);
            var me = await client.GetMeAsync(new GetMeRequest(), Api.Call(account.Session.AccessToken));
            var refreshed = await client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = account.Session.RefreshToken }, Api.Call());
            var result = await ValidateWithServedKeysAsync(rest, account.Session.AccessToken);

            Assert.Equal(account.Account.Id, me.Account.Id);
            Assert.Equal(kid, new JsonWebToken(refreshed.Session.AccessToken).Kid);
            Assert.True(result.IsValid, result.Exception?.ToString());
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Admin_ConfiguredEmailAndPassword_IsBootstrappedOnceWithAllScopes()
    {
        const string password = "admin password long enough";
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            string adminId;
            await using (var host = new IdentityHost(dataDirectory))
            {
                host.With("Identity:Admin:Email", "Root@Example.Test").With("Identity:Admin:Password", password);
                using var channel = host.CreateGrpcChannel();
                var signedIn = await host.CreateClient(channel).SignInAsync(new SignInRequest { Email = "root@example.test", Password = password }, Api.Call());
                adminId = signedIn.Account.Id;
                Assert.Equal(Role.Admin, signedIn.Account.Role);
                var token = new JsonWebToken(signedIn.Session.AccessToken);
                Assert.Equal("admin", token.GetClaim("role").Value);
                Assert.Equal("api:read api:write keys:manage usage:read", token.GetClaim("scope").Value);
            }

            // A restart with another configured password neither duplicates nor changes the administrator.
            await using var restarted = new IdentityHost(dataDirectory);
            restarted.With("Identity:Admin:Email", "root@example.test").With("Identity:Admin:Password", "a different password");
            using var restartedChannel = restarted.CreateGrpcChannel();
            var client = restarted.CreateClient(restartedChannel);
            var again = await client.SignInAsync(new SignInRequest { Email = "root@example.test", Password = password }, Api.Call());
            var changed = await Assert.ThrowsAsync<RpcException>(() =>
                client.SignInAsync(new SignInRequest { Email = "root@example.test", Password = "a different password" }, Api.Call()).ResponseAsync);

            Assert.Equal(adminId, again.Account.Id);
            Assert.Equal(StatusCode.Unauthenticated, changed.StatusCode);
            Assert.Single(await restarted.QueryAsync("SELECT 1 FROM accounts WHERE role = 'admin';"));
            Assert.Single(await restarted.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'account.admin_bootstrapped';"));
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task BillingManagers_Configured_BootstrappedWithBillingScopes()
    {
        const string password = "billing password long enough";
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            await using var host = new IdentityHost(dataDirectory);
            host.With("Identity:BillingManagers:0:Email", "Money@Example.Test").With("Identity:BillingManagers:0:Password", password);
            using var hostChannel = host.CreateGrpcChannel();
            var client = host.CreateClient(hostChannel);

            var signedIn = await client.SignInAsync(new SignInRequest { Email = "money@example.test", Password = password }, Api.Call());
            var token = new JsonWebToken(signedIn.Session.AccessToken);
            Assert.Equal(Role.BillingManager, signedIn.Account.Role);
            Assert.Equal("billing_manager", token.GetClaim("role").Value);
            Assert.Equal("api:read usage:read", token.GetClaim("scope").Value);
            Assert.Single(await host.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'account.billing_manager_bootstrapped';"));
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task BillingManagers_EntryWithoutPassword_StartFails()
    {
        await using var host = new IdentityHost();
        host.With("Identity:BillingManagers:0:Email", "money@example.test");

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("Identity:BillingManagers", ex.ToString());
    }

    [Fact]
    public async Task Admin_NotConfigured_NoAdministratorExists()
    {
        var rows = await fixture.Host.QueryAsync("SELECT 1 FROM accounts WHERE role = 'admin';");

        Assert.Empty(rows);
    }

    /// <summary>Validates like any other service would: keys from the published JWKS, issuer, audience, ES256.</summary>
    internal static async Task<TokenValidationResult> ValidateWithServedKeysAsync(HttpClient rest, string token)
    {
        var jwks = new JsonWebKeySet(await rest.GetStringAsync(".well-known/jwks.json", Api.Ct));
        return await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = "veil-identity",
            ValidAudience = "veil-api",
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            ValidTypes = ["at+jwt"],
            IssuerSigningKeys = jwks.GetSigningKeys(),
            ClockSkew = TimeSpan.FromSeconds(30),
        });
    }
}
