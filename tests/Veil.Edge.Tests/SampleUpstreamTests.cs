using System.Net;
using Veil.Samples.Upstream;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The sample upstream (samples/upstream) with <c>Upstream:SigningSecret</c> set: calls forwarded
/// by a real edge pass; direct calls with forged <c>X-Veil-*</c> headers, a stale signature or
/// another secret's are refused with 401.
/// </summary>
public sealed class SampleUpstreamTests(EdgeFixture fleet) : IClassFixture<EdgeFixture>
{
    [Fact]
    public async Task SampleUpstream_AcceptsSignedCallsFromTheEdge_RefusesUnsignedStaleAndForged()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var sample = new ServiceHost<UpstreamOptions>();
        var api = await fleet.PublishApiAsync(sample.HttpUrl, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        var rotated = await EdgeFixture.PostAsync(rest, $"v1/apis/{api.ApiId}:rotateSigningSecret", api.Provider.Token, new { }, ct);
        var secret = rotated["signingSecret"]!.GetValue<string>();
        sample.With("Upstream:SigningSecret", secret).Start();
        var consumer = await fleet.ConsumerAsync(api.PlanId);

        // Through the edge: signed, accepted (once the edge applied the secret).
        await Eventually.HoldsAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{api.Slug}/forecast?city=Lisbon");
            request.Headers.Add("X-Api-Key", consumer.Key);
            using var response = await rest.SendAsync(request, ct);
            return response.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(10), "the sample accepts the edge's signed calls");

        using var direct = sample.CreateRestClient();
        async Task<HttpStatusCode> DirectAsync(string? signature)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "forecast?city=Lisbon");
            request.Headers.Add("X-Veil-Consumer", consumer.Account.Id);
            request.Headers.Add("X-Veil-Subscription", consumer.SubscriptionId);
            request.Headers.Add("X-Veil-Plan", api.PlanId);
            request.Headers.Add("X-Request-Id", "direct-1");
            if (signature is not null)
            {
                request.Headers.Add("X-Veil-Signature", signature);
            }
            using var response = await direct.SendAsync(request, ct);
            return response.StatusCode;
        }
        string Sign(string key, DateTimeOffset at)
        {
            var t = at.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            var canonical = string.Join('\n', t, "GET", "/forecast?city=Lisbon", consumer.Account.Id, consumer.SubscriptionId, api.PlanId, "direct-1");
            var hmac = System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key), System.Text.Encoding.UTF8.GetBytes(canonical));
            return $"t={t},v1={Convert.ToHexStringLower(hmac)}";
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(null));
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(Sign(secret, DateTimeOffset.UtcNow.AddMinutes(-6))));
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(Sign("vsig_" + new string('B', 43), DateTimeOffset.UtcNow)));
        // The same request correctly signed passes: what was refused is the signature, nothing else.
        Assert.Equal(HttpStatusCode.OK, await DirectAsync(Sign(secret, DateTimeOffset.UtcNow)));
    }
}
