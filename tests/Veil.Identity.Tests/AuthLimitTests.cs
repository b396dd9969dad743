using System.Diagnostics;
using System.Net;
using Google.Rpc;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;

namespace Veil.Identity.Tests;

/// <summary>Per-address and per-account limits, sign-in back-off, the password-hashing cap and the API-key cap.</summary>
public sealed class AuthLimitTests
{
    [Fact]
    public async Task SignIn_FloodFromOneAddressOverRest_Answers429ProblemWithRetryAfter()
    {
        await using var host = new IdentityHost();
        host.With("Identity:AuthLimits:PerAddressPermitLimit", "5").With("Identity:AuthLimits:PerAddressWindow", "01:00:00");
        using var rest = host.CreateRestClient();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? throttled = null;
        for (var i = 0; i < 8; i++)
        {
            var response = await rest.PostJsonAsync("v1/auth/signin", new { email = Api.NewEmail(), password = "a wrong password" });
            statuses.Add(response.StatusCode);
            throttled ??= response.StatusCode == HttpStatusCode.TooManyRequests ? response : null;
        }

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, 5).Concat(Enumerable.Repeat(HttpStatusCode.TooManyRequests, 3)), statuses);
        Assert.Equal("application/problem+json", throttled!.Content.Headers.ContentType?.MediaType);
        var retryAfter = throttled.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        // One call comes back every hour / 5 = 12 minutes.
        Assert.InRange(retryAfter.Value, TimeSpan.FromMinutes(11), TimeSpan.FromMinutes(12));
        var body = await throttled.JsonAsync();
        Assert.Equal(429, (int)body["status"]!);
        Assert.Contains("from this address", (string?)body["detail"], StringComparison.Ordinal);
        Assert.Equal((long)retryAfter.Value.TotalSeconds, (long)body["retryAfterSeconds"]!);
    }

    [Theory]
    [InlineData("v1/auth/signup")]
    [InlineData("v1/auth/refresh")]
    [InlineData("v1/auth/signout")]
    public async Task AuthEndpoints_BeyondPerAddressLimit_Answer429(string path)
    {
        await using var host = new IdentityHost();
        host.With("Identity:AuthLimits:PerAddressPermitLimit", "2").With("Identity:AuthLimits:PerAddressWindow", "01:00:00");
        using var rest = host.CreateRestClient();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            var response = await rest.PostJsonAsync(path, new { email = Api.NewEmail(), password = Api.Password, role = "CONSUMER", refreshToken = "x" });
            statuses.Add(response.StatusCode);
        }

        Assert.DoesNotContain(HttpStatusCode.TooManyRequests, statuses[..2]);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[2]);
    }

    [Fact]
    public async Task SignIn_ForwardedByTheEdge_LimitsEachClientAddressSeparately()
    {
        await using var host = new IdentityHost();
        host.With("Identity:AuthLimits:PerAddressPermitLimit", "2").With("Identity:AuthLimits:PerAddressWindow", "01:00:00");
        using var rest = host.CreateRestClient();

        async Task<HttpStatusCode> SignInFromAsync(string client)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/auth/signin")
            {
                Content = System.Net.Http.Json.JsonContent.Create(new { email = Api.NewEmail(), password = "a wrong password" }),
            };
            // What the edge (a private-network peer) sends: the address it saw, appended last.
            request.Headers.Add("X-Forwarded-For", client);
            using var response = await rest.SendAsync(request, Api.Ct);
            return response.StatusCode;
        }

        var first = new[] { await SignInFromAsync("203.0.113.7"), await SignInFromAsync("203.0.113.7"), await SignInFromAsync("203.0.113.7") };
        var second = await SignInFromAsync("198.51.100.20");

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests], first);
        Assert.Equal(HttpStatusCode.Unauthorized, second);
    }

    [Fact]
    public async Task SignIn_BeyondPerAccountLimit_ResourceExhaustedForThatEmailOnly()
    {
        await using var host = new IdentityHost();
        host.With("Identity:AuthLimits:PerAccountPermitLimit", "3").With("Identity:AuthLimits:PerAccountWindow", "01:00:00")
            .With("Identity:AuthLimits:BackoffFreeFailures", "100");
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);

        for (var i = 0; i < 2; i++)
        {
            var wrong = await Assert.ThrowsAsync<RpcException>(() => client.SignInAsync(account.Account.Email, "a wrong password"));
            Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        }
        var limited = await Assert.ThrowsAsync<RpcException>(() => client.SignInAsync(account.Account.Email.ToUpperInvariant()));
        var other = await client.SignUpAsync(Role.Consumer);
        await client.SignInAsync(other.Account.Email);

        // Sign-up counted as the email's first attempt.
        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        Assert.Contains("for this account", limited.Status.Detail, StringComparison.Ordinal);
        Assert.NotNull(limited.GetRpcStatus()?.GetDetail<RetryInfo>());
    }

    [Fact]
    public async Task SignIn_RepeatedFailures_BackOffGrowsSurvivesRestartAndResetsOnSuccess()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero));
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        IdentityHost Configure(IdentityHost host)
        {
            host.With("Identity:AuthLimits:BackoffFreeFailures", "2").With("Identity:AuthLimits:BackoffBaseDelay", "00:01:00")
                .With("Identity:AuthLimits:BackoffMaxDelay", "00:03:00");
            return host;
        }
        try
        {
            string email;
            await using (var host = Configure(new IdentityHost(dataDirectory, clock)))
            {
                using var channel = host.CreateGrpcChannel();
                var client = host.CreateClient(channel);
                email = (await client.SignUpAsync(Role.Consumer)).Account.Email;
                await Assert.ThrowsAsync<RpcException>(() => client.SignInAsync(email, "a wrong password"));
                await Assert.ThrowsAsync<RpcException>(() => client.SignInAsync(email, "a wrong password"));

                // Two free failures, then 1 minute; even the right password waits.
                var waiting = await Assert.ThrowsAsync<RpcException>(() => client.SignInAsync(email));
                Assert.Equal(StatusCode.ResourceExhausted, waiting.StatusCode);
                Assert.Equal(TimeSpan.FromMinutes(1), waiting.GetRpcStatus()!.GetDetail<RetryInfo>().RetryDelay.ToTimeSpan());
                clock.Advance(TimeSpan.FromMinutes(1));
                var third = await Assert.ThrowsAsync<RpcException>(() => client.SignInAsync(email, "a wrong password"));
                Assert.Equal(StatusCode.Unauthenticated, third.StatusCode);
                clock.Advance(TimeSpan.FromSeconds(30));
            }

            // A restart forgets nothing: the third failure doubled the wait to 2 minutes.
            await using var restarted = Configure(new IdentityHost(dataDirectory, clock));
            using var rest = restarted.CreateRestClient();
            using var restartedChannel = restarted.CreateGrpcChannel();
            var restartedClient = restarted.CreateClient(restartedChannel);
            var response = await rest.PostJsonAsync("v1/auth/signin", new { email, password = Api.Password });
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(90), response.Headers.RetryAfter?.Delta);
            clock.Advance(TimeSpan.FromSeconds(90));
            await restartedClient.SignInAsync(email);
            Assert.Empty(await restarted.QueryAsync("SELECT 1 FROM signin_failures WHERE email = @email;", ("@email", email)));
            Assert.Equal(3, (await restarted.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'auth.signin_failed' AND target = @email;", ("@email", email))).Count);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task SignIn_UnknownEmail_BacksOffLikeAKnownOne()
    {
        await using var host = new IdentityHost();
        host.With("Identity:AuthLimits:BackoffFreeFailures", "1").With("Identity:AuthLimits:BackoffBaseDelay", "00:10:00");
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var known = (await client.SignUpAsync(Role.Consumer)).Account.Email;
        var unknown = Api.NewEmail();

        var answers = new List<StatusCode>();
        foreach (var email in new[] { known, known, unknown, unknown })
        {
            answers.Add((await Assert.ThrowsAsync<RpcException>(() => client.SignInAsync(email, "a wrong password"))).StatusCode);
        }

        Assert.Equal([StatusCode.Unauthenticated, StatusCode.ResourceExhausted, StatusCode.Unauthenticated, StatusCode.ResourceExhausted], answers);
    }

    [Fact]
    public async Task ValidateApiKey_DuringSignInFlood_NeverWaitsOnPasswordHashing()
    {
        await using var host = new IdentityHost();
        host.With("Identity:AuthLimits:MaxConcurrentHashes", "1").With("Identity:AuthLimits:HashQueueLimit", "2")
            .With("Identity:AuthLimits:PerAccountPermitLimit", "1000").With("Identity:AuthLimits:BackoffFreeFailures", "1000");
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var owner = await client.SignUpAsync(Role.Consumer);
        var keys = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            keys.Add((await client.CreateKeyAsync(owner.Session.AccessToken, $"key {i}")).Key);
        }

        // 60 concurrent sign-ins: at most one hashes and two wait; the rest are refused at once.
        var flood = Enumerable.Range(0, 60).Select(async _ =>
        {
            try
            {
                await client.SignInAsync(Api.NewEmail(), "a wrong password");
                return StatusCode.OK;
            }
            catch (RpcException ex)
            {
                return ex.StatusCode;
            }
        }).ToArray();
        var slowest = TimeSpan.Zero;
        foreach (var key in keys)
        {
            var watch = Stopwatch.StartNew();
            var validation = await client.ValidateAsync(key);
            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
            Assert.True(validation.Valid);
        }
        var outcomes = await Task.WhenAll(flood);

        Assert.InRange(slowest, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        Assert.Contains(StatusCode.ResourceExhausted, outcomes);
        Assert.All(outcomes, o => Assert.True(o is StatusCode.Unauthenticated or StatusCode.ResourceExhausted, o.ToString()));
    }

    [Fact]
    public async Task CreateApiKey_BeyondConfiguredCap_FailedPreconditionUntilOneIsRevoked()
    {
        await using var host = new IdentityHost();
        host.With("Identity:MaxApiKeysPerAccount", "2");
        using var channel = host.CreateGrpcChannel();
        var client = host.CreateClient(channel);
        var account = await client.SignUpAsync(Role.Consumer);
        var first = await client.CreateKeyAsync(account.Session.AccessToken, "one");
        await client.CreateKeyAsync(account.Session.AccessToken, "two");

        var refused = await Assert.ThrowsAsync<RpcException>(() => client.CreateKeyAsync(account.Session.AccessToken, "three"));
        await client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = first.ApiKey.Id }, Api.Call(account.Session.AccessToken));
        var third = await client.CreateKeyAsync(account.Session.AccessToken, "three");

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("Identity:MaxApiKeysPerAccount", refused.Status.Detail, StringComparison.Ordinal);
        Assert.True((await client.ValidateAsync(third.Key)).Valid);
    }
}
