using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using StandardWebhooks;
using Veil.Identity.V1;
using Veil.Testing;
using Veil.Usage.Webhooks;
using Receiver = Veil.Usage.Tests.WebhookTests.Receiver;

namespace Veil.Usage.Tests;

/// <summary>
/// identity.api_key.expiring: the notifier asks the real identity for keys expiring within the
/// lead and queues one notice per key and expire_time, delivered by the webhook dispatcher.
/// </summary>
public sealed class KeyExpiryNoticeTests(IdentityFixture identity)
{
    [Fact]
    public async Task KeyExpiryNotices_KeyWithinLead_OneSignedDeliveryWithTheKeyAndHowToRotate()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var soon = await CreateKeyAsync(consumer, "ci pipeline", days: 3);
        var later = await CreateKeyAsync(consumer, "dashboard", days: 30);
        var revoked = await CreateKeyAsync(consumer, "old laptop", days: 2);
        await identity.Client.RevokeApiKeyAsync(new RevokeApiKeyRequest { KeyId = revoked.Id }, Api.Call(consumer.Token));
        await using var receiver = await Receiver.StartAsync(failFirst: 1);
        // Receivers check webhook-timestamp against their own (real) clock: the sender runs on it too.
        await using var usage = new UsageHost(identity, time: TimeProvider.System);
        usage.With("Usage:KeyExpiryNotices:Enabled", "true");
        using var rest = usage.CreateRestClient();
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var set = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = receiver.Url, secret });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);

        var queued = await usage.Notifier.RunOnceAsync(Api.Ct);

        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Delivered.Count == 1),
            TimeSpan.FromSeconds(30), "the notice is delivered despite the receiver's first failure");
        Assert.Equal(1, queued);
        var request = Assert.Single(receiver.Delivered);
        var text = Encoding.UTF8.GetString(request.Body);
        new StandardWebhook(secret).Verify(text, request.Headers);
        var body = JsonNode.Parse(text)!;
        Assert.Equal(request.Headers["webhook-id"].ToString(), (string?)body["id"]);
        Assert.Equal("identity.api_key.expiring", (string?)body["type"]);
        Assert.Equal(consumer.Id, (string?)body["consumerId"]);
        Assert.Equal(soon.Id, (string?)body["keyId"]);
        Assert.Equal("ci pipeline", (string?)body["name"]);
        Assert.Equal(soon.Prefix, (string?)body["prefix"]);
        Assert.Equal(soon.ExpireTime.ToDateTimeOffset(), DateTimeOffset.Parse((string)body["expireTime"]!, CultureInfo.InvariantCulture));
        Assert.Equal("POST", (string?)body["rotate"]!["method"]);
        Assert.Equal($"/v1/keys/{soon.Id}:rotate", (string?)body["rotate"]!["path"]);
        // The failed first attempt was the same notice, retried under the same id.
        Assert.Equal(2, receiver.All.Count);
        Assert.Single(receiver.All.Select(r => r.EventId).Distinct());
        Assert.DoesNotContain(receiver.All, r => Encoding.UTF8.GetString(r.Body).Contains(later.Id, StringComparison.Ordinal));
        Assert.DoesNotContain(receiver.All, r => Encoding.UTF8.GetString(r.Body).Contains(revoked.Id, StringComparison.Ordinal));

        // The consumer's delivery log names the type of each attempt.
        JsonArray log = [];
        await Eventually.HoldsAsync(async () =>
        {
            log = (await (await rest.SendAsync(HttpMethod.Get, "v1/usage/webhook/deliveries", consumer.Token)).JsonAsync())["deliveries"]?.AsArray() ?? [];
            return log.Count == 2;
        }, TimeSpan.FromSeconds(10), "the delivery log records both attempts");
        Assert.All(log, d => Assert.Equal("identity.api_key.expiring", (string?)d!["type"]));
        Assert.Equal([200, 500], log.Select(d => (int)d!["statusCode"]!));
    }

    [Fact]
    public async Task KeyExpiryNotices_SecondPassRestartAndRotation_OneNoticePerKeyAndExpiry()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var key = await CreateKeyAsync(consumer, "ci pipeline", days: 10);
        await using var receiver = await Receiver.StartAsync(failFirst: 0);
        // Usage's clock starts when identity made the key and moves only when the test says.
        var clock = new FakeTimeProvider(key.CreateTime.ToDateTimeOffset());
        var data = Directory.CreateTempSubdirectory("veil-usage-keyexpiry-").FullName;
        try
        {
            await using (var usage = Notifying(data, clock))
            {
                using var rest = usage.CreateRestClient();
                var set = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = receiver.Url, secret = "0123456789abcdef" });
                Assert.Equal(HttpStatusCode.OK, set.StatusCode);
                using var passes = new MeterCounter(usage.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
                    UsageMetrics.MeterName, "veil.usage.key_expiry.passes", "veil.outcome", "succeeded");

                // 10 days before expiry: outside the 7-day lead.
                Assert.Equal(0, await usage.Notifier.RunOnceAsync(Api.Ct));
                Assert.Empty(await NoticesAsync(usage, key.Id));

                // Three days on, the scheduled pass (a minute after start, then hourly) finds it.
                clock.Advance(TimeSpan.FromDays(3));
                await AdvanceUntilAsync(clock, TimeSpan.FromMinutes(1), () => receiver.Delivered.Count == 1,
                    "the scheduled pass queues the notice and the dispatcher delivers it");
                Assert.Equal(key.Id, (string?)JsonNode.Parse(receiver.Delivered[0].Body)!["keyId"]);
                await Eventually.HoldsAsync(() => Task.FromResult(passes.Total >= 2), TimeSpan.FromSeconds(10), "the scheduled pass completes");

                // Later passes, and one run by hand: nothing new.
                var before = passes.Total;
                await AdvanceUntilAsync(clock, TimeSpan.FromMinutes(10), () => passes.Total > before, "the hourly pass runs");
                Assert.Equal(0, await usage.Notifier.RunOnceAsync(Api.Ct));
                Assert.Single(receiver.All);
            }

            await using (var restarted = Notifying(data, clock))
            {
                Assert.Equal(0, await restarted.Notifier.RunOnceAsync(Api.Ct));
                Assert.Single(await NoticesAsync(restarted, key.Id));

                // Rotation: the old key now ends with the overlap (a new, nearer expire_time, still
                // inside the lead on this clock) but was dealt with: no notice. Its successor (10 days
                // from the rotation, inside the lead too) is another key and gets its own.
                var rotated = await identity.Client.RotateApiKeyAsync(
                    new RotateApiKeyRequest { KeyId = key.Id, Overlap = Duration.FromTimeSpan(TimeSpan.FromDays(7)) }, Api.Call(consumer.Token));
                Assert.Equal(1, await restarted.Notifier.RunOnceAsync(Api.Ct));
                Assert.Equal(0, await restarted.Notifier.RunOnceAsync(Api.Ct));
                await Eventually.HoldsAsync(() => Task.FromResult(receiver.Delivered.Count == 2),
                    TimeSpan.FromSeconds(30), "the successor's notice is delivered");

                Assert.Equal([key.Id, rotated.ApiKey.Id], receiver.Delivered.Select(r => (string?)JsonNode.Parse(r.Body)!["keyId"]));
                Assert.Equal(rotated.ApiKey.ExpireTime.ToDateTimeOffset(),
                    DateTimeOffset.Parse((string)JsonNode.Parse(receiver.Delivered[1].Body)!["expireTime"]!, CultureInfo.InvariantCulture));
                Assert.Single(await NoticesAsync(restarted, key.Id));
                Assert.Single(await NoticesAsync(restarted, rotated.ApiKey.Id));
                Assert.Equal(2, receiver.All.Count);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task KeyExpiryNotices_NoWebhookYet_QueuedAtTheFirstPassAfterOneIsSet()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var key = await CreateKeyAsync(consumer, "ci pipeline", days: 2);
        await using var receiver = await Receiver.StartAsync(failFirst: 0);
        await using var usage = new UsageHost(identity, time: new FakeTimeProvider(key.CreateTime.ToDateTimeOffset()));
        usage.With("Usage:KeyExpiryNotices:Enabled", "true");
        using var rest = usage.CreateRestClient();

        await usage.Notifier.RunOnceAsync(Api.Ct);
        var withoutWebhook = await NoticesAsync(usage, key.Id);
        await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = receiver.Url, secret = "0123456789abcdef" });
        await usage.Notifier.RunOnceAsync(Api.Ct);

        Assert.Empty(withoutWebhook);
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Delivered.Count == 1), TimeSpan.FromSeconds(30), "the notice is delivered");
        Assert.Equal(key.Id, (string?)JsonNode.Parse(receiver.Delivered[0].Body)!["keyId"]);
    }

    [Fact]
    public async Task KeyExpiryNotices_IdentityUnreachable_PassFailsAndTheNextIntervalAsksAgain()
    {
        var clock = new FakeTimeProvider(HardDates.Ordinary);
        await using var usage = new UsageHost(identity, time: clock);
        // Nothing listens there.
        usage.With("Usage:KeyExpiryNotices:Enabled", "true")
            .With("Usage:KeyExpiryNotices:Timeout", "00:00:02")
            .With("services:identity:grpc:0", $"http://127.0.0.1:{FreePort.Next()}/");
        usage.Start();
        using var failed = new MeterCounter(usage.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            UsageMetrics.MeterName, "veil.usage.key_expiry.passes", "veil.outcome", "failed");

        await AdvanceUntilAsync(clock, KeyExpiryNotifier.FirstPassDelay, () => failed.Total >= 1, "the first pass fails");
        var afterFirst = failed.Total;
        await AdvanceUntilAsync(clock, TimeSpan.FromMinutes(10), () => failed.Total > afterFirst, "a later pass asks again and fails again");

        var direct = await Record.ExceptionAsync(() => usage.Notifier.RunOnceAsync(Api.Ct));
        Assert.Equal(StatusCode.Unavailable, Assert.IsType<RpcException>(direct).StatusCode);
        using var health = usage.CreateRestClient();
        Assert.Equal(HttpStatusCode.OK, (await health.GetAsync("alive", Api.Ct)).StatusCode);
        Assert.Empty(await usage.QueryAsync("SELECT id FROM notifications"));
    }

    /// <summary>
    /// Moves the clock on by <paramref name="step"/> at each poll until <paramref name="condition"/>
    /// holds: the notifier runs on a background thread, so a timer it registers after one move still
    /// comes due at a later one.
    /// </summary>
    private static Task AdvanceUntilAsync(FakeTimeProvider clock, TimeSpan step, Func<bool> condition, string because) =>
        Eventually.HoldsAsync(() =>
        {
            if (condition())
            {
                return Task.FromResult(true);
            }
            clock.Advance(step);
            return Task.FromResult(false);
        }, TimeSpan.FromSeconds(30), because);

    private UsageHost Notifying(string data, TimeProvider clock)
    {
        var usage = new UsageHost(identity, data, clock);
        usage.With("Usage:KeyExpiryNotices:Enabled", "true");
        return usage;
    }

    private async Task<ApiKey> CreateKeyAsync(Account owner, string name, int days) =>
        (await identity.Client.CreateApiKeyAsync(new CreateApiKeyRequest { Name = name, ExpiresInDays = days }, Api.Call(owner.Token))).ApiKey;

    private static Task<List<object?[]>> NoticesAsync(UsageHost usage, string keyId) =>
        usage.QueryAsync($"SELECT id, status FROM notifications WHERE type = 'identity.api_key.expiring' AND dedup_key LIKE '{keyId}/%'");
}
