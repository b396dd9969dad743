using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Veil.Identity.V1;
using Veil.Testing;

namespace Veil.Identity.Tests;

/// <summary>
/// Signing-key rotation on a fake clock (defaults: a key signs 30 days, its successor is published
/// 1 h before, a retired key stays published for the 1 h access-token lifetime + 30 s skew).
/// </summary>
public sealed class SigningKeyRotationTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Rotation = TimeSpan.FromDays(30);
    private const string AdminEmail = "keys-admin@example.test";

    [Fact]
    public async Task SigningKeys_ScheduledRotation_PublishedBeforeSigningAndOldKeyKeptUntilItsTokensExpire()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        using var rest = host.CreateRestClient();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        var first = Kid(account.Session.AccessToken);
        Assert.Equal([first], await PublishedAsync(rest));

        // A minute before the successor is due: nothing new yet.
        clock.Advance(Rotation - TimeSpan.FromHours(1) - TimeSpan.FromMinutes(1));
        Assert.Equal([first], await PublishedAsync(rest));

        // Due (1 h before the 30 days end): the successor is published, but does not sign yet.
        clock.Advance(TimeSpan.FromMinutes(1));
        string second = "";
        await Eventually.HoldsAsync(async () => (await PublishedAsync(rest)) is [var a, var b] && a == first && (second = b) != first,
            TimeSpan.FromSeconds(10), "the next key is published ahead of its activation");
        Assert.Equal(first, Kid((await client.SignInAsync(Sign(account), Api.Call())).Session.AccessToken));

        // Five minutes before activation a token is signed with the first key...
        clock.Advance(TimeSpan.FromMinutes(55));
        var signedBefore = (await client.SignInAsync(Sign(account), Api.Call())).Session.AccessToken;
        Assert.Equal(first, Kid(signedBefore));

        // ...and after activation the second key signs while that token still validates.
        clock.Advance(TimeSpan.FromMinutes(10));
        var signedAfter = (await client.SignInAsync(Sign(account), Api.Call())).Session.AccessToken;
        var me = await client.GetMeAsync(new GetMeRequest(), Api.Call(signedBefore));
        Assert.Equal(second, Kid(signedAfter));
        Assert.Equal(account.Account.Id, me.Account.Id);
        Assert.Equal([first, second], await PublishedAsync(rest));

        // The first key retired at the activation (Start + 30 d); it is published until the last
        // token it could have signed has expired: + 1 h lifetime + 30 s skew.
        clock.SetUtcNow(Start + Rotation + TimeSpan.FromHours(1) + TimeSpan.FromSeconds(29));
        Assert.Equal([first, second], await PublishedAsync(rest));
        clock.Advance(TimeSpan.FromSeconds(2));
        await Eventually.HoldsAsync(async () => (await PublishedAsync(rest)).SequenceEqual([second]),
            TimeSpan.FromSeconds(10), "the retired key leaves the JWKS once its tokens have expired");
        Assert.Empty(await host.QueryAsync("SELECT kid FROM signing_keys WHERE kid = @kid", ("@kid", first)));
        var retired = await host.QueryAsync("SELECT retired_at FROM signing_keys WHERE kid = @kid", ("@kid", second));
        Assert.Null(Assert.Single(retired)[0]);
    }

    [Fact]
    public async Task RotateSigningKey_Admin_PublishesAtOnceSignsAfterPublishAheadAndIsAudited()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        host.With("Identity:Admin:Email", AdminEmail).With("Identity:Admin:Password", Api.Password);
        using var channel = host.CreateGrpcChannel();
        using var rest = host.CreateRestClient();
        var client = host.CreateClient(channel);
        var admin = await client.SignInAsync(new SignInRequest { Email = AdminEmail, Password = Api.Password }, Api.Call());
        var consumer = await client.SignUpAsync(Role.Consumer);
        var first = Kid(admin.Session.AccessToken);

        var denied = await Assert.ThrowsAsync<RpcException>(() =>
            client.RotateSigningKeyAsync(new RotateSigningKeyRequest(), Api.Call(consumer.Session.AccessToken)).ResponseAsync);
        var anonymous = await rest.PostJsonAsync("v1/auth/signing-keys:rotate", new { });
        var rotated = await rest.PostJsonAsync("v1/auth/signing-keys:rotate", new { }, admin.Session.AccessToken);
        var body = await rotated.JsonAsync();
        var again = await client.RotateSigningKeyAsync(new RotateSigningKeyRequest(), Api.Call(admin.Session.AccessToken));

        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var next = (string)body["nextKey"]!["kid"]!;
        Assert.Equal(first, (string?)body["currentKey"]!["kid"]);
        Assert.Equal(Start + TimeSpan.FromHours(1), DateTimeOffset.Parse((string)body["nextKey"]!["activateTime"]!, System.Globalization.CultureInfo.InvariantCulture));
        // A second request while a rotation is pending returns that rotation.
        Assert.Equal(next, again.NextKey.Kid);
        Assert.Equal([first, next], await PublishedAsync(rest));
        Assert.Equal(first, Kid((await client.SignInAsync(Sign(admin.Account.Email), Api.Call())).Session.AccessToken));
        Assert.Equal(2, (await host.QueryAsync("SELECT target FROM audit_log WHERE action = 'signing_key.rotation_requested' AND target = @kid", ("@kid", next))).Count);

        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(next, Kid((await client.SignInAsync(Sign(admin.Account.Email), Api.Call())).Session.AccessToken));
        // The schedule restarts from the new key: its successor is due 30 days after it activated.
        clock.Advance(Rotation - TimeSpan.FromHours(1) - TimeSpan.FromMinutes(1));
        await Eventually.HoldsAsync(async () => (await PublishedAsync(rest)).SequenceEqual([next]),
            TimeSpan.FromSeconds(10), "the first key is gone and no successor of the new one is due yet");
    }

    [Fact]
    public async Task SigningKeyOptions_PublishAheadNotShorterThanInterval_FailsStartNamingTheSetting()
    {
        await using var host = new IdentityHost();
        host.With("Identity:SigningKeys:RotationInterval", "02:00:00").With("Identity:SigningKeys:PublishAhead", "03:00:00");

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("Identity:SigningKeys:PublishAhead", ex.ToString());
    }

    private static SignInRequest Sign(SignUpResponse account) => Sign(account.Account.Email);

    private static SignInRequest Sign(string email) => new() { Email = email, Password = Api.Password };

    private static string Kid(string token) => new JsonWebToken(token).Kid;

    private static async Task<List<string>> PublishedAsync(HttpClient rest)
    {
        var jwks = JsonNode.Parse(await rest.GetStringAsync(".well-known/jwks.json", Api.Ct))!;
        return [.. jwks["keys"]!.AsArray().Select(k => (string)k!["kid"]!)];
    }
}
