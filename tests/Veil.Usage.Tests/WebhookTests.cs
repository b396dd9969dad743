using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;
using Veil.Testing;

namespace Veil.Usage.Tests;

public sealed class WebhookTests(IdentityFixture identity)
{
    [Fact]
    public async Task Webhooks_80And100Percent_DeliveredOnceEachSignedAndRetried()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var other = await identity.SignUpAsync(Role.Consumer);
        await using var receiver = await Receiver.StartAsync(failFirst: 3);
        // Receivers check webhook-timestamp against their own (real) clock, as the stock verifier
        // does: the sender runs on the real clock here. Cycles come from the product's rule.
        var clock = TimeProvider.System;
        var now = clock.GetUtcNow();
        await using var usage = new UsageHost(identity, time: clock);
        using var rest = usage.CreateRestClient();
        // The Standard Webhooks form: whsec_ + base64 of random bytes (what stock verifiers take).
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var set = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = receiver.Url, secret });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now), quota: 10, overage: false);
        var calls = sub.Calls(20, now.AddMinutes(-10));

        await usage.Client.IngestAsync(calls.Take(7));
        var before80 = await usage.QueryAsync("SELECT COUNT(*) FROM notifications");
        await usage.Client.IngestAsync(calls.Skip(7).Take(1));
        await usage.Client.IngestAsync(calls.Skip(8).Take(4));
        // Replays and later calls cross nothing again.
        await usage.Client.IngestAsync(calls.Take(12));
        await usage.Client.IngestAsync(calls.Skip(12));

        Assert.Equal(0L, before80[0][0]);
        var queued = await usage.QueryAsync("SELECT threshold_percent FROM notifications ORDER BY threshold_percent");
        Assert.Equal([80L, 100L], queued.Select(r => (long)r[0]!));
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Delivered.Count == 2),
            TimeSpan.FromSeconds(30), "both notifications are delivered despite the receiver's first failures");

        foreach (var request in receiver.Delivered)
        {
            // A receiver verifies with the StandardWebhooks package as it comes (this throws when
            // the signature, id or timestamp does not check out).
            new StandardWebhook(secret).Verify(Encoding.UTF8.GetString(request.Body), request.Headers);
            Assert.Equal(request.EventId, request.Headers["webhook-id"].ToString());
            Assert.Equal(request.Timestamp, request.Headers["webhook-timestamp"].ToString());
            // The legacy header, kept for one release.
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), request.Body));
            Assert.Equal(expected, request.Signature);
            var body = JsonNode.Parse(request.Body)!;
            Assert.Equal((string?)body["id"], request.EventId);
            Assert.Equal(sub.Id, (string?)body["subscriptionId"]);
            Assert.Equal(consumer.Id, (string?)body["consumerId"]);
            Assert.Equal(10, (long)body["monthlyQuota"]!);
            Assert.True(long.TryParse(request.Timestamp, out var seconds) && Math.Abs(seconds - clock.GetUtcNow().ToUnixTimeSeconds()) < 300);
        }
        Assert.Equal([80, 100], receiver.Delivered.Select(r => (int)JsonNode.Parse(r.Body)!["thresholdPercent"]!).Order());
        Assert.Equal(2, receiver.Delivered.Select(r => r.EventId).Distinct().Count());
        // The failed attempts were retries of the same notifications, with the same ids.
        Assert.Equal(3, receiver.All.Count(r => r.Status == 500));
        Assert.Subset(receiver.Delivered.Select(r => r.EventId).ToHashSet(), receiver.All.Where(r => r.Status == 500).Select(r => r.EventId).ToHashSet());

        // Every attempt is in the consumer's delivery log (written right after each response).
        JsonArray log = [];
        await Eventually.HoldsAsync(async () =>
        {
            var response = await rest.SendAsync(HttpMethod.Get, "v1/usage/webhook/deliveries", consumer.Token);
            log = (await response.JsonAsync())["deliveries"]?.AsArray() ?? [];
            return log.Count == receiver.All.Count;
        }, TimeSpan.FromSeconds(10), "the delivery log records every attempt");
        Assert.True(3 == log.Count(d => (int)d!["statusCode"]! == 500 && d["succeeded"]?.GetValue<bool>() != true && ((string?)d["error"])?.Length > 0), log.ToJsonString());
        Assert.Equal(2, log.Count(d => (int)d!["statusCode"]! == 200 && (bool)d["succeeded"]!));
        Assert.All(log, d => Assert.Equal(receiver.Url, (string?)d!["url"]));
        var otherLog = await (await rest.SendAsync(HttpMethod.Get, "v1/usage/webhook/deliveries", other.Token)).JsonAsync();
        Assert.Empty(otherLog["deliveries"]?.AsArray() ?? []);
    }

    [Fact]
    public async Task Webhooks_ReceiverAlwaysFails_GivesUpAfterMaxAttempts()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var receiver = await Receiver.StartAsync(failFirst: int.MaxValue);
        // The stock verifier below checks webhook-timestamp against the real clock.
        var now = DateTimeOffset.UtcNow;
        await using var usage = new UsageHost(identity, time: TimeProvider.System);
        usage.With("Usage:Webhooks:MaxAttempts", "3");
        using var rest = usage.CreateRestClient();
        await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = receiver.Url, secret = "0123456789abcdef" });
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now), quota: 5, overage: true);

        await usage.Client.IngestAsync(sub.Calls(4, now.AddMinutes(-1)));

        await Eventually.HoldsAsync(async () => (await usage.QueryAsync("SELECT status, attempts FROM notifications")) is [[2L, 3L]],
            TimeSpan.FromSeconds(30), "the notification is marked failed after 3 attempts");
        Assert.Equal(3, receiver.All.Count);
        Assert.Single(receiver.All.Select(r => r.EventId).Distinct());
        // A secret not in the whsec_ form keys the signature with its UTF-8 bytes.
        Assert.All(receiver.All, r => new StandardWebhook(Encoding.UTF8.GetBytes("0123456789abcdef")).Verify(Encoding.UTF8.GetString(r.Body), r.Headers));
        Assert.All(receiver.All, r => Assert.Throws<WebhookVerificationException>(() =>
            new StandardWebhook(Encoding.UTF8.GetBytes("0123456789abcdeF")).Verify(Encoding.UTF8.GetString(r.Body), r.Headers)));
    }

    [Fact]
    public async Task SetWebhook_InvalidInput_ProblemWithFieldErrors()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var provider = await identity.SignUpAsync(Role.Provider);
        await using var usage = new UsageHost(identity);
        usage.With("Usage:AllowPrivateWebhooks", "false");
        using var rest = usage.CreateRestClient();

        var scheme = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = "ftp://hooks.example.com/x", secret = "short" });
        var loopback = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = "http://127.0.0.1:8080/hook", secret = "0123456789abcdef" });
        var privateRange = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = "https://10.1.2.3/hook", secret = "0123456789abcdef" });
        var localhost = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = "http://localhost/hook", secret = "0123456789abcdef" });
        var badWhsec = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = "https://hooks.example.com/veil", secret = "whsec_not*base64*at*all" });
        var credentials = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = "https://user:pw@hooks.example.com/", secret = "0123456789abcdef" });
        var byProvider = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", provider.Token, new { url = "https://hooks.example.com/veil", secret = "0123456789abcdef" });
        var public_ = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = "https://hooks.example.com/veil", secret = "0123456789abcdef" });
        var read = await rest.SendAsync(HttpMethod.Get, "v1/usage/webhook", consumer.Token);

        await QueryTests.AssertFieldErrorAsync(scheme, "url", "secret");
        await QueryTests.AssertFieldErrorAsync(loopback, "url");
        await QueryTests.AssertFieldErrorAsync(privateRange, "url");
        await QueryTests.AssertFieldErrorAsync(localhost, "url");
        await QueryTests.AssertFieldErrorAsync(credentials, "url");
        await QueryTests.AssertFieldErrorAsync(badWhsec, "secret");
        Assert.Equal(HttpStatusCode.Forbidden, byProvider.StatusCode);
        Assert.Equal(HttpStatusCode.OK, public_.StatusCode);
        var text = await read.Content.ReadAsStringAsync(Api.Ct);
        Assert.Contains("https://hooks.example.com/veil", text);
        Assert.DoesNotContain("0123456789abcdef", text);
        Assert.DoesNotContain("0123456789abcdef", string.Concat((await usage.QueryAsync("SELECT protected_secret FROM webhooks")).Select(r => r[0])));
    }

    [Fact]
    public async Task Webhooks_PublicNameResolvesToLoopback_RefusedAtConnectAndLogged()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var receiver = await Receiver.StartAsync(failFirst: 0);
        // A name that passes the URL check but resolves to loopback (DNS rebinding, nip.io-style).
        var resolver = new TableHostResolver(new Dictionary<string, IPAddress[]> { ["hooks.example.com"] = [IPAddress.Loopback] });
        await using var usage = new UsageHost(identity);
        usage.With("Usage:AllowPrivateWebhooks", "false")
            .With("Usage:Webhooks:MaxAttempts", "2")
            .WithServices(services => services.AddSingleton<IHostResolver>(resolver));
        using var rest = usage.CreateRestClient();
        var url = $"http://hooks.example.com:{new Uri(receiver.Url).Port}/hooks/veil";
        var set = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url, secret = "0123456789abcdef" });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var now = DateTimeOffset.UtcNow;
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now), quota: 5, overage: true);

        await usage.Client.IngestAsync(sub.Calls(4, now.AddMinutes(-1)));

        await Eventually.HoldsAsync(async () => (await usage.QueryAsync("SELECT status, attempts FROM notifications")) is [[2L, 2L]],
            TimeSpan.FromSeconds(30), "the notification fails after 2 refused attempts");
        Assert.Empty(receiver.All);
        Assert.Contains("hooks.example.com.", resolver.Asked); // asked as an absolute name
        var log = (await (await rest.SendAsync(HttpMethod.Get, "v1/usage/webhook/deliveries", consumer.Token)).JsonAsync())["deliveries"]!.AsArray();
        Assert.Equal(2, log.Count);
        Assert.All(log, d => Assert.Contains("not allowed", (string?)d!["error"], StringComparison.Ordinal));
        Assert.All(log, d => Assert.DoesNotContain("127.0.0.1", (string?)d!["error"], StringComparison.Ordinal));
    }

    /// <summary>A webhook receiver on real Kestrel that answers 500 to its first N requests.</summary>
    internal sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _failuresLeft;

        private Receiver(WebApplication app, int failFirst, string url)
        {
            _app = app;
            _failuresLeft = failFirst;
            Url = url;
        }

        public string Url { get; }

        public ConcurrentQueue<Request> All { get; } = new();

        public List<Request> Delivered => All.Where(r => r.Status == 200).ToList();

        public static async Task<Receiver> StartAsync(int failFirst)
        {
            var port = FreePort.Next();
            var builder = WebApplication.CreateSlimBuilder();
            // The test folder's appsettings.json (a service's) names Kestrel endpoints; not for this app.
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = $"http://127.0.0.1:{port}" });
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var receiver = new Receiver(app, failFirst, $"http://127.0.0.1:{port}/hooks/veil");
            app.MapPost("/hooks/veil", async (HttpContext context) =>
            {
                using var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
                var status = Interlocked.Decrement(ref receiver._failuresLeft) >= 0 ? 500 : 200;
                receiver.All.Enqueue(new Request(buffer.ToArray(), context.Request.Headers["X-Veil-Signature"].ToString(),
                    context.Request.Headers["X-Veil-Event-Id"].ToString(), context.Request.Headers["X-Veil-Timestamp"].ToString(), status,
                    new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase))));
                return Results.StatusCode(status);
            });
            await app.StartAsync(Api.Ct);
            return receiver;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();

        public sealed record Request(byte[] Body, string Signature, string EventId, string Timestamp, int Status, IHeaderDictionary Headers);
    }
}
