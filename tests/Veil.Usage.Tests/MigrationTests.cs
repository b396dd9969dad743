using Microsoft.Data.Sqlite;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Billing;
using Veil.Testing;
using Veil.Usage.Data;
using Veil.Usage.V1;

namespace Veil.Usage.Tests;

/// <summary>
/// A usage database written by the first schema (every event row carrying all its columns) is
/// upgraded in place by migration 0002 (events refer to a shared context row): nothing counted
/// is lost or counted again, and recounts, rollups and deduplication see the old events. Migration
/// 0004 (typed outbox) keeps every notification and delivery-log row; 0005 (call log) lists only
/// calls ingested after it.
/// </summary>
public sealed class MigrationTests(IdentityFixture identity)
{
    [Fact]
    public async Task Start_OnVersion1Database_KeepsEventsIdsCountsAndDeduplication()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var data = Directory.CreateTempSubdirectory("veil-usage-migrate-").FullName;
        try
        {
            var now = HardDates.Ordinary;
            var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now));
            var weather = sub.Calls(4, now.AddMinutes(-30));
            var posts = sub.Calls(2, now.AddMinutes(-20), billable: false);
            foreach (var post in posts)
            {
                (post.Method, post.Route) = ("POST", "/reports");
            }
            var anonymous = sub.Call(now.AddMinutes(-10), billable: false, status: 401);
            (anonymous.KeyId, anonymous.ConsumerId, anonymous.SubscriptionId, anonymous.PlanId, anonymous.SubscriptionStart) = ("", "", "", "", null);
            anonymous.MonthlyQuota = 0;
            List<UsageEvent> old = [.. weather, .. posts, anonymous];
            var cycle = BillingCycle.Containing(sub.Start.ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds());
            await WriteVersion1Async(Path.Combine(data, "usage.db"), old, sub, cycle, receivedAt: now);

            await using var usage = new UsageHost(identity, data, new ClockAt(now));

            var rows = await usage.QueryAsync("""
                SELECT e.id, e.event_id, c.method, c.route, c.key_id, c.subscription_id, e.billable, e.cycle_start
                FROM events e JOIN contexts c ON c.id = e.context_id ORDER BY e.id
                """);
            Assert.Equal(
                old.Select((e, i) => ((long)i + 1, e.EventId, e.Method, e.Route, e.KeyId, e.SubscriptionId, e.Billable ? 1L : 0L,
                    e.SubscriptionId.Length == 0 ? 0L : cycle.StartMs)),
                rows.Select(r => ((long)r[0]!, (string)r[1]!, (string)r[2]!, (string)r[3]!, (string)r[4]!, (string)r[5]!, (long)r[6]!, (long)r[7]!)));
            Assert.Equal(3L, (await usage.QueryAsync("SELECT COUNT(*) FROM contexts"))[0][0]);

            var replay = await usage.Client.IngestAsync(old);
            Assert.Equal((0, old.Count), (replay.Accepted, replay.Duplicates));

            var recount = (await usage.Client.ListCycleUsageAsync(
                new ListCycleUsageRequest { SubscriptionId = sub.Id, RecountFromEvents = true }, Api.Call()).ResponseAsync).Cycles.Single();
            Assert.Equal((6L, 4L), (recount.TotalCalls, recount.BillableCalls));

            // New calls of an old context reuse its row and count on top of the migrated counters.
            var more = sub.Calls(3, now.AddMinutes(-5));
            Assert.Equal(3, (await usage.Client.IngestAsync(more)).Accepted);
            Assert.Equal(3L, (await usage.QueryAsync("SELECT COUNT(*) FROM contexts"))[0][0]);
            Assert.Equal(7, (await usage.Client.QuotaAsync(consumer.Token, sub.Id)).Used);
            // Migration 0005 starts the call log at the upgrade: the migrated calls have no call-log row.
            var listed = await usage.Client.ListCallsAsync(new ListCallsRequest(), Api.Call(consumer.Token)).ResponseAsync;
            Assert.Equal(more.Select(e => e.EventId).Reverse(), listed.Calls.Select(c => c.EventId));

            await usage.RolledUpAsync();
            var rolled = await usage.QueryAsync(
                $"SELECT SUM(total_calls), SUM(billable_calls) FROM rollups WHERE granularity = 1 AND subscription_id = '{sub.Id}'");
            Assert.Equal((9L, 7L), ((long)rolled[0][0]!, (long)rolled[0][1]!));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Start_OnVersion2Outbox_KeepsNotificationsDeliveryLogAndQuotaUniqueness()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var data = Directory.CreateTempSubdirectory("veil-usage-migrate-").FullName;
        try
        {
            var at = HardDates.Ordinary.ToUnixTimeMilliseconds();
            await using (var connection = new SqliteConnection($"Data Source={Path.Combine(data, "usage.db")};Pooling=False"))
            {
                await connection.OpenAsync(Api.Ct);
                var scripts = typeof(UsageStore).Assembly;
                foreach (var name in new[] { ".0001_initial.sql", ".0002_event_contexts.sql" })
                {
                    await using var stream = scripts.GetManifestResourceStream(scripts.GetManifestResourceNames().Single(n => n.EndsWith(name, StringComparison.Ordinal)))!;
                    using var reader = new StreamReader(stream);
                    await ExecuteAsync(connection, await reader.ReadToEndAsync(Api.Ct));
                }
                await ExecuteAsync(connection, $"""
                    PRAGMA user_version=2;
                    INSERT INTO notifications (id, consumer_id, subscription_id, cycle_start, threshold_percent, payload, status, attempts,
                      next_attempt_at, created_at, completed_at)
                    VALUES ('ntf_old', '{consumer.Id}', 'sub_old', 1000, 80, '{"{}"}', 1, 2, {at}, {at}, {at});
                    INSERT INTO webhook_deliveries VALUES (7, 'ntf_old', '{consumer.Id}', 1, {at}, 'https://hooks.example.com/v', 500, 'HTTP 500', 0, 12);
                    INSERT INTO webhook_deliveries VALUES (9, 'ntf_old', '{consumer.Id}', 2, {at + 1000}, 'https://hooks.example.com/v', 200, '', 1, 10);
                    """);
            }

            await using var usage = new UsageHost(identity, data, new ClockAt(HardDates.Ordinary));
            using var rest = usage.CreateRestClient();

            var kept = await usage.QueryAsync("SELECT id, type, subscription_id, cycle_start, threshold_percent, dedup_key, status, attempts FROM notifications");
            var log = (await (await rest.SendAsync(HttpMethod.Get, "v1/usage/webhook/deliveries", consumer.Token)).JsonAsync())["deliveries"]!.AsArray();
            // The same quota notice again is still ignored; a key notice with the same columns is another row.
            await usage.QueryAsync("""
                INSERT OR IGNORE INTO notifications (id, consumer_id, subscription_id, cycle_start, threshold_percent, payload, next_attempt_at, created_at)
                VALUES ('ntf_again', 'acc_x', 'sub_old', 1000, 80, '{}', 0, 0);
                INSERT INTO notifications (id, type, consumer_id, dedup_key, payload, next_attempt_at, created_at)
                VALUES ('ntf_key', 'identity.api_key.expiring', 'acc_x', 'key_1/5000', '{}', 0, 0);
                INSERT OR IGNORE INTO notifications (id, type, consumer_id, dedup_key, payload, next_attempt_at, created_at)
                VALUES ('ntf_key_again', 'identity.api_key.expiring', 'acc_x', 'key_1/5000', '{}', 0, 0);
                """);

            Assert.Equal(["ntf_old", "usage.quota.threshold_reached", "sub_old", 1000L, 80L, null, 1L, 2L], Assert.Single(kept));
            Assert.Equal([9L, 7L], (await usage.QueryAsync("SELECT id FROM webhook_deliveries ORDER BY id DESC")).Select(r => r[0]));
            Assert.Equal([200, 500], log.Select(d => (int)d!["statusCode"]!));
            Assert.All(log, d => Assert.Equal(("ntf_old", "sub_old", 80, "usage.quota.threshold_reached"),
                ((string?)d!["notificationId"], (string?)d["subscriptionId"], (int)d["thresholdPercent"]!, (string?)d["type"])));
            Assert.Equal(["ntf_key", "ntf_old"], (await usage.QueryAsync("SELECT id FROM notifications ORDER BY id")).Select(r => r[0]));
            Assert.Empty(await usage.QueryAsync("PRAGMA foreign_key_check"));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>A database exactly as the first schema and its ingest left it: events, terms and counters.</summary>
    private static async Task WriteVersion1Async(string path, List<UsageEvent> events, Sub sub, BillingCycle cycle, DateTimeOffset receivedAt)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync(Api.Ct);
        var resource = typeof(UsageStore).Assembly.GetManifestResourceNames().Single(n => n.EndsWith(".0001_initial.sql", StringComparison.Ordinal));
        await using (var stream = typeof(UsageStore).Assembly.GetManifestResourceStream(resource)!)
        using (var reader = new StreamReader(stream))
        {
            await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;" + await reader.ReadToEndAsync(Api.Ct) + "\nPRAGMA user_version=1;");
        }
        await using var transaction = connection.BeginTransaction();
        var received = receivedAt.ToUnixTimeMilliseconds();
        foreach (var e in events)
        {
            await using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO events (event_id, occurred_at, received_at, edge_id, api_id, provider_id, config_version, key_id,
                  consumer_id, subscription_id, plan_id, method, route, status_code, latency_ms, bytes_in, bytes_out, billable,
                  monthly_quota, overage_allowed, price_per_call_minor, currency, subscription_start, cycle_start)
                VALUES ($id, $occurred, $received, $edge, $api, $provider, $version, $key, $consumer, $sub, $plan, $method, $route,
                  $status, $latency, $in, $out, $billable, $quota, $overage, $price, $currency, $start, $cycle);
                """;
            var p = insert.Parameters;
            p.AddWithValue("$id", e.EventId);
            p.AddWithValue("$occurred", e.OccurredAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
            p.AddWithValue("$received", received);
            p.AddWithValue("$edge", e.EdgeId);
            p.AddWithValue("$api", e.ApiId);
            p.AddWithValue("$provider", e.ProviderId);
            p.AddWithValue("$version", e.ConfigVersion);
            p.AddWithValue("$key", e.KeyId);
            p.AddWithValue("$consumer", e.ConsumerId);
            p.AddWithValue("$sub", e.SubscriptionId);
            p.AddWithValue("$plan", e.PlanId);
            p.AddWithValue("$method", e.Method);
            p.AddWithValue("$route", e.Route);
            p.AddWithValue("$status", e.StatusCode);
            p.AddWithValue("$latency", e.LatencyMs);
            p.AddWithValue("$in", e.BytesIn);
            p.AddWithValue("$out", e.BytesOut);
            p.AddWithValue("$billable", e.Billable);
            p.AddWithValue("$quota", e.MonthlyQuota);
            p.AddWithValue("$overage", e.OverageAllowed);
            p.AddWithValue("$price", e.PricePerCallMinor);
            p.AddWithValue("$currency", e.Currency);
            p.AddWithValue("$start", e.SubscriptionStart is null ? 0L : e.SubscriptionStart.ToDateTimeOffset().ToUnixTimeMilliseconds());
            p.AddWithValue("$cycle", e.SubscriptionId.Length == 0 ? 0L : cycle.StartMs);
            await insert.ExecuteNonQueryAsync(Api.Ct);
        }
        var subscribed = events.Count(e => e.SubscriptionId.Length > 0);
        var billable = events.Count(e => e.Billable);
        await ExecuteAsync(connection, $"""
            INSERT INTO subscriptions VALUES ('{sub.Id}', '{sub.ConsumerId}', '{sub.ProviderId}', '{sub.ApiId}', '{sub.PlanId}',
              {sub.Quota}, {(sub.Overage ? 1 : 0)}, 2, 'USD', {sub.Start.ToUnixTimeMilliseconds()}, {received});
            INSERT INTO cycles VALUES ('{sub.Id}', {cycle.StartMs}, {cycle.EndMs}, {subscribed}, {billable});
            """, transaction);
        await transaction.CommitAsync(Api.Ct);
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(Api.Ct);
    }
}
