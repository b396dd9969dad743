using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.Testing;

namespace Veil.Identity.Tests;

/// <summary>ListExpiringApiKeys: usage's internal view of the keys about to expire, for its notices.</summary>
public sealed class ExpiringApiKeysTests
{
    // A chosen date; identity judges its own access tokens by this clock too.
    private static readonly DateTimeOffset Start = new(2026, 3, 10, 14, 25, 0, TimeSpan.Zero);
    private const string AdminEmail = "expiry-admin@example.test";

    [Fact]
    public async Task ListExpiringApiKeys_ServiceCall_PagesLiveUnrotatedKeysInTheWindowByExpiry()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var alice = (await client.SignUpAsync(Role.Consumer)).Session.AccessToken;
        var bob = await client.SignUpAsync(Role.Consumer);
        var oneDay = (await client.CreateKeyAsync(alice, "one day", 1)).ApiKey;
        var fiveDays = (await client.CreateKeyAsync(alice, "five days", 5)).ApiKey;
        await client.CreateKeyAsync(alice, "thirty days", 30);
        var revoked = (await client.CreateKeyAsync(alice, "revoked", 2)).ApiKey;
        await client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = revoked.Id }, Api.Call(alice));
        var rotated = (await client.CreateKeyAsync(alice, "rotated", 3)).ApiKey;
        // The old key now ends after the 24 h overlap, inside the window; only its successor is listed.
        var successor = (await client.RotateApiKeyAsync(new RotateApiKeyRequest { KeyId = rotated.Id }, Api.Call(alice))).ApiKey;
        var bobs = (await client.CreateKeyAsync(bob.Session.AccessToken, "bob's", 3)).ApiKey;

        var all = await ListAsync(client, Start, Start.AddDays(7), pageSize: 2);
        // Exclusive after, inclusive before: a key expiring at expire_after is not listed, one at expire_before is.
        var bounded = await ListAsync(client, Start.AddDays(1), Start.AddDays(5), pageSize: 0);

        var expected = new[] { oneDay, successor, bobs, fiveDays }
            .OrderBy(k => k.ExpireTime.ToDateTimeOffset()).ThenBy(k => k.Id, StringComparer.Ordinal).Select(k => k.Id).ToList();
        Assert.Equal(expected, all.Select(k => k.KeyId));
        Assert.Equal(expected.Where(id => id != oneDay.Id), bounded.Select(k => k.KeyId));
        var listedBobs = Assert.Single(all, k => k.KeyId == bobs.Id);
        Assert.Equal(new ExpiringApiKey
        {
            KeyId = bobs.Id,
            AccountId = bob.Account.Id,
            Name = "bob's",
            Prefix = bobs.Prefix,
            ExpireTime = Timestamp.FromDateTimeOffset(Start.AddDays(3)),
        }, listedBobs);
        Assert.Equal(Start.AddDays(3), Assert.Single(all, k => k.KeyId == successor.Id).ExpireTime.ToDateTimeOffset());
    }

    [Fact]
    public async Task ListExpiringApiKeys_TokensWindowsAndRestPort_OnlyServicesAndAdministrators()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new IdentityHost(time: clock);
        host.With("Identity:Admin:Email", AdminEmail).With("Identity:Admin:Password", Api.Password);
        using var channel = host.CreateGrpcChannel();
        using var rest = host.CreateRestClient();
        var client = host.CreateClient(channel);
        var consumer = (await client.SignUpAsync(Role.Consumer)).Session.AccessToken;
        var key = (await client.CreateKeyAsync(consumer, "soon", 2)).ApiKey;
        var admin = (await client.SignInAsync(AdminEmail)).Session.AccessToken;
        var window = new ListExpiringApiKeysRequest { ExpireAfter = Ts(Start), ExpireBefore = Ts(Start.AddDays(7)) };

        var byAdmin = await client.ListExpiringApiKeysAsync(window, Api.Call(admin));
        await Expect.StatusAsync(StatusCode.PermissionDenied, () => client.ListExpiringApiKeysAsync(window, Api.Call(consumer)).ResponseAsync);
        await Expect.StatusAsync(StatusCode.Unauthenticated, () => client.ListExpiringApiKeysAsync(window, Api.Call("not.a.token")).ResponseAsync);
        var noWindow = await Expect.FieldErrorsAsync(() => client.ListExpiringApiKeysAsync(new ListExpiringApiKeysRequest { PageSize = 1001 }, Api.Call()).ResponseAsync);
        var reversed = await Expect.FieldErrorsAsync(() => client.ListExpiringApiKeysAsync(
            new ListExpiringApiKeysRequest { ExpireAfter = Ts(Start.AddDays(7)), ExpireBefore = Ts(Start) }, Api.Call()).ResponseAsync);
        await client.CreateKeyAsync(consumer, "also soon", 2);
        var firstPage = await client.ListExpiringApiKeysAsync(new ListExpiringApiKeysRequest(window) { PageSize = 1 }, Api.Call());
        var otherWindow = await Expect.FieldErrorsAsync(() => client.ListExpiringApiKeysAsync(
            new ListExpiringApiKeysRequest { ExpireAfter = Ts(Start), ExpireBefore = Ts(Start.AddDays(6)), PageToken = firstPage.NextPageToken }, Api.Call()).ResponseAsync);
        // Not transcoded: the REST port (the one the edge proxies) has no route to it.
        using var overRest = new HttpRequestMessage(HttpMethod.Post, "veil.identity.v1.IdentityService/ListExpiringApiKeys")
        {
            Content = new StringContent("{}", new MediaTypeHeaderValue("application/json")),
        };
        var restResponse = await rest.SendAsync(overRest, Api.Ct);
        var restBody = await restResponse.Content.ReadAsStringAsync(Api.Ct);

        Assert.Equal([key.Id], byAdmin.ApiKeys.Select(k => k.KeyId));
        Assert.Equal(["page_size", "expire_after", "expire_before"], noWindow);
        Assert.Equal(["expire_before"], reversed);
        Assert.NotEmpty(firstPage.NextPageToken);
        Assert.Equal(["page_token"], otherWindow);
        Assert.False(restResponse.IsSuccessStatusCode, $"{(int)restResponse.StatusCode}: {restBody}");
        Assert.NotEqual(HttpStatusCode.OK, restResponse.StatusCode);
        Assert.DoesNotContain(key.Id, restBody, StringComparison.Ordinal);
    }

    private static async Task<List<ExpiringApiKey>> ListAsync(IdentityService.IdentityServiceClient client, DateTimeOffset after, DateTimeOffset before, int pageSize)
    {
        var request = new ListExpiringApiKeysRequest { ExpireAfter = Ts(after), ExpireBefore = Ts(before), PageSize = pageSize };
        var keys = new List<ExpiringApiKey>();
        do
        {
            var page = await client.ListExpiringApiKeysAsync(request, Api.Call());
            Assert.True(pageSize == 0 || page.ApiKeys.Count <= pageSize);
            keys.AddRange(page.ApiKeys);
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return keys;
    }

    private static Timestamp Ts(DateTimeOffset at) => Timestamp.FromDateTimeOffset(at);
}
