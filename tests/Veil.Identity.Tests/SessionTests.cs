using System.Net;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Veil.Identity.Security;
using Veil.Identity.V1;

namespace Veil.Identity.Tests;

/// <summary>Sessions end: sign-out, sign-out everywhere, the absolute lifetime, password changes, the access-token type.</summary>
public sealed class SessionTests(IdentityFixture fixture) : IClassFixture<IdentityFixture>
{
    private readonly IdentityService.IdentityServiceClient _client = fixture.Client;
    private readonly HttpClient _rest = fixture.Rest;

    [Fact]
    public async Task SignOut_RefreshTokenOverRest_EndsItsFamilyAndNoOtherSession()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var rotated = (await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = account.Session.RefreshToken }, Api.Call())).Session;
        var otherDevice = (await _client.SignInAsync(account.Account.Email)).Session;

        // An earlier (used) token of the family is enough to end it.
        var response = await _rest.PostJsonAsync("v1/auth/signout", new { refreshToken = account.Session.RefreshToken });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var refused = await _rest.PostJsonAsync("v1/auth/refresh", new { refreshToken = rotated.RefreshToken });
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = otherDevice.RefreshToken }, Api.Call());
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'auth.signed_out' AND account_id = @id;", ("@id", account.Account.Id)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-token")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task SignOut_UnknownOrMalformedToken_AnswersLikeASuccess(string token)
    {
        var response = await _rest.PostJsonAsync("v1/auth/signout", new { refreshToken = token });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task SignOutEverywhere_OverRest_EndsEverySessionOfTheCallerOnly()
    {
        var account = await _client.SignUpAsync(Role.Provider);
        var second = (await _client.SignInAsync(account.Account.Email)).Session;
        var stranger = await _client.SignUpAsync(Role.Consumer);

        var response = await _rest.PostJsonAsync("v1/auth/signout-all", new { }, second.AccessToken);

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal(2, (int)body["endedSessions"]!);
        foreach (var token in new[] { account.Session.RefreshToken, second.RefreshToken })
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() =>
                _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = token }, Api.Call()).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
        }
        await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = stranger.Session.RefreshToken }, Api.Call());
    }

    [Fact]
    public async Task SignOutEverywhere_WithoutToken_Returns401()
    {
        var response = await _rest.PostJsonAsync("v1/auth/signout-all", new { });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task RefreshSession_RotatedPastAbsoluteLifetime_CappedThenRefused()
    {
        var signedUpAt = new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);
        var clock = new FakeTimeProvider(signedUpAt);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var session = (await client.SignUpAsync(Role.Consumer)).Session;

        // Rotating every 10 days keeps the sliding 14 days alive, but never past 30 days from sign-up.
        clock.Advance(TimeSpan.FromDays(10));
        session = (await client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = session.RefreshToken }, Api.Call())).Session;
        Assert.Equal(signedUpAt.AddDays(24), session.RefreshTokenExpireTime.ToDateTimeOffset());
        clock.Advance(TimeSpan.FromDays(10));
        session = (await client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = session.RefreshToken }, Api.Call())).Session;
        Assert.Equal(signedUpAt.AddDays(30), session.RefreshTokenExpireTime.ToDateTimeOffset());
        clock.Advance(TimeSpan.FromDays(10));
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = session.RefreshToken }, Api.Call()).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Fact]
    public async Task ChangePassword_OverRest_EndsEverySessionAndOnlyTheNewPasswordWorks()
    {
        const string newPassword = "a brand new passphrase";
        var account = await _client.SignUpAsync(Role.Consumer);
        var other = (await _client.SignInAsync(account.Account.Email)).Session;

        var response = await _rest.PostJsonAsync("v1/accounts/me/password",
            new { currentPassword = Api.Password, newPassword }, account.Session.AccessToken);

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToJsonString());
        foreach (var token in new[] { account.Session.RefreshToken, other.RefreshToken })
        {
            var refused = await _rest.PostJsonAsync("v1/auth/refresh", new { refreshToken = token });
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        // The session it returns is the one that lives on.
        await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = (string)body["session"]!["refreshToken"]! }, Api.Call());
        var old = await Assert.ThrowsAsync<RpcException>(() => _client.SignInAsync(account.Account.Email));
        Assert.Equal(StatusCode.Unauthenticated, old.StatusCode);
        await _client.SignInAsync(account.Account.Email, newPassword);
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'account.password_changed' AND account_id = @id;", ("@id", account.Account.Id)));
    }

    [Theory]
    [InlineData("wrong current password", "a brand new passphrase", "currentPassword")]
    [InlineData(Api.Password, "short", "newPassword")]
    public async Task ChangePassword_BadInput_Returns400NamingTheFieldAndKeepsSessions(string current, string next, string field)
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var response = await _rest.PostJsonAsync("v1/accounts/me/password",
            new { currentPassword = current, newPassword = next }, account.Session.AccessToken);

        var body = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotNull(body["errors"]![field]);
        await _client.RefreshSessionAsync(new RefreshSessionRequest { RefreshToken = account.Session.RefreshToken }, Api.Call());
    }

    [Fact]
    public async Task AccessToken_SameKeysButNotTypedAtJwt_IsRefused()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var original = new JsonWebToken(account.Session.AccessToken);
        // Signed with identity's own current key: only the header type differs.
        var key = fixture.Host.Services.GetRequiredService<SigningKeys>().Current;
        var untyped = new JsonWebTokenHandler().CreateToken(Base64UrlEncoder.Decode(original.EncodedPayload),
            new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256),
            new Dictionary<string, object> { [JwtHeaderParameterNames.Typ] = "JWT" });

        var refused = await _rest.GetAsync("v1/accounts/me", untyped);
        var accepted = await _rest.GetAsync("v1/accounts/me", account.Session.AccessToken);

        Assert.Equal("JWT", new JsonWebToken(untyped).Typ);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }
}
