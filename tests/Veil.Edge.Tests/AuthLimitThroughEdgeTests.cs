using System.Net;
using System.Net.Http.Json;
using Veil.Identity.Grpc;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Identity's per-address sign-in limit as a client of the edge sees it: the edge passes the
/// management route through, identity judges the address the edge forwarded.
/// </summary>
public sealed class AuthLimitThroughEdgeTests
{
    [Fact]
    public async Task SignIn_FloodThroughEdgeWithSpoofedForwardedFor_Answers429WithRetryAfter()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var identity = new ServiceHost<IdentityGrpcService>();
        identity.With("Identity:AuthLimits:PerAddressPermitLimit", "3").With("Identity:AuthLimits:PerAddressWindow", "01:00:00").Start();
        await using var edge = new ServiceHost<EdgeOptions>();
        edge.With("services:identity:http:0", identity.HttpUrl.ToString())
            .With("services:identity:grpc:0", identity.GrpcUrl.ToString());
        foreach (var service in new[] { "catalog", "subscriptions" })
        {
            edge.With($"services:{service}:http:0", $"http://127.0.0.1:{FreePort.Next()}")
                .With($"services:{service}:grpc:0", $"http://127.0.0.1:{FreePort.Next()}");
        }
        using var http = edge.CreateRestClient();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? last = null;
        for (var i = 0; i < 5; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/auth/signin")
            {
                Content = JsonContent.Create(new { email = $"user-{Guid.NewGuid():N}@example.test", password = "a wrong password" }),
            };
            // A client cannot pick a fresh bucket per request: the edge drops what it sends.
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{i + 1}");
            last?.Dispose();
            last = await http.SendAsync(request, ct);
            statuses.Add(last.StatusCode);
        }

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized,
            HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal("application/problem+json", last!.Content.Headers.ContentType?.MediaType);
        Assert.True(last.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "429 carries Retry-After ≥ 1 s");
        last.Dispose();
    }
}
