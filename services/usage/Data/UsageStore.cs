using System.Security.Cryptography;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Data;
using Veil.Usage.V1;

namespace Veil.Usage.Data;

/// <summary>Rollup granularities; the values are stored in <c>rollups.granularity</c>.</summary>
public enum Granularity
{
    Minute = 1,
    Hour = 2,
    Day = 3,
}

/// <summary>What one IngestEvents batch did.</summary>
public sealed record IngestResult(
    int Accepted, int Duplicates, int OutsideWindow, int Future, int Invalid,
    bool HardCapReached, IReadOnlyList<QueuedNotification> Notifications, long? OldestAcceptedMs)
{
    public int Quarantined => OutsideWindow + Future + Invalid;
}

/// <summary>A quota notification inserted into the outbox by an ingest batch.</summary>
public sealed record QueuedNotification(string Id, string SubscriptionId, int ThresholdPercent, long CycleStartMs);

/// <summary>
/// Usage's SQLite store: raw events, rollups, cycle counters, quarantine, webhooks and the
/// notification outbox. Writes are serialised by an in-process gate before they take SQLite's
/// write lock, so concurrent batches queue in memory instead of spinning on SQLITE_BUSY.
/// </summary>
public sealed partial class UsageStore(SqliteDatabase database, TimeProvider time, IOptions<UsageOptions> options)
{
    internal const int Threshold80 = 80;
    internal const int Threshold100 = 100;
    private const long MinuteMs = 60_000;
    private const long HourMs = 3_600_000;
    private const long DayMs = 86_400_000;
    private const string IdAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    private static readonly JsonSerializerOptions PayloadJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly SemaphoreSlim _writeGate = new(1, 1);

    internal static string NewId(string prefix) => prefix + "_" + RandomNumberGenerator.GetString(IdAlphabet, 20);

    /// <summary>
    /// Stores a batch in one immediate transaction: every countable event is inserted with
    /// <c>INSERT OR IGNORE</c> on its id through one reused command, and only the rows that were
    /// really inserted (changes() = 1) feed the rollups, the cycle counters and the threshold
    /// checks, so a duplicate never counts twice and the counters always equal the raw rows.
    /// </summary>
    public async Task<IngestResult> IngestAsync(IReadOnlyList<UsageEvent> events, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var settings = options.Value;
        var oldestAllowed = now - (long)settings.DedupWindow.TotalMilliseconds;
        var newestAllowed = now + (long)settings.MaxClockSkew.TotalMilliseconds;

        // Classify outside the write lock: validation and cycle arithmetic need no database.
        var candidates = new List<Candidate>(events.Count);
        var quarantined = new List<Quarantined>();
        int outsideWindow = 0, future = 0, invalid = 0;
        var lastCycle = (Anchor: long.MinValue, Cycle: default(BillingCycle));
        foreach (var e in events)
        {
            if (EventRules.Check(e) is { } problem)
            {
                var key = EventRules.IsValidEventId(e.EventId) ? e.EventId : "sha256:" + Convert.ToHexStringLower(SHA256.HashData(e.ToByteArray()));
                var occurred = e.OccurredAt is null ? 0 : SafeMs(e.OccurredAt);
                quarantined.Add(new(key, QuarantineReason.Invalid, problem, occurred, e));
                invalid++;
                continue;
            }
            var occurredMs = EventRules.ToMs(e.OccurredAt!); // checked by EventRules
            if (occurredMs < oldestAllowed)
            {
                quarantined.Add(new(e.EventId, QuarantineReason.OutsideWindow, $"occurred_at is older than the {settings.DedupWindow.TotalDays:0.##}-day deduplication window", occurredMs, e));
                outsideWindow++;
                continue;
            }
            if (occurredMs > newestAllowed)
            {
                quarantined.Add(new(e.EventId, QuarantineReason.Future, $"occurred_at is more than {settings.MaxClockSkew} ahead of the usage service's clock", occurredMs, e));
                future++;
                continue;
            }
            var cycle = default(BillingCycle);
            if (e.SubscriptionId.Length > 0)
            {
                var anchor = EventRules.ToMs(e.SubscriptionStart!);
                // Events of one subscription mostly share a cycle: reuse the last one computed.
                if (lastCycle.Anchor != anchor || !lastCycle.Cycle.Contains(Math.Max(anchor, occurredMs)))
                {
                    lastCycle = (anchor, BillingCycle.Containing(anchor, occurredMs));
                }
                cycle = lastCycle.Cycle;
            }
            candidates.Add(new(e, occurredMs, cycle));
        }

        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            await using var transaction = connection.BeginTransaction();
            var inserted = InsertEvents(connection, transaction, candidates, now);
            InsertQuarantined(connection, transaction, quarantined, now);
            UpsertRollups(connection, transaction, inserted);
            UpsertSubscriptions(connection, transaction, inserted);
            var (hardCapReached, notifications) = UpsertCycles(connection, transaction, inserted, now);
            await transaction.CommitAsync(cancellationToken);

            long? oldestAccepted = inserted.Count == 0 ? null : inserted.Min(c => c.OccurredMs);
            return new IngestResult(inserted.Count, candidates.Count - inserted.Count, outsideWindow, future, invalid,
                hardCapReached, notifications, oldestAccepted);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private static List<Candidate> InsertEvents(SqliteConnection connection, SqliteTransaction transaction, List<Candidate> candidates, long now)
    {
        var inserted = new List<Candidate>(candidates.Count);
        if (candidates.Count == 0)
        {
            return inserted;
        }
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT OR IGNORE INTO events (
              event_id, occurred_at, received_at, edge_id, api_id, provider_id, config_version, key_id,
              consumer_id, subscription_id, plan_id, method, route, status_code, latency_ms, bytes_in,
              bytes_out, billable, monthly_quota, overage_allowed, price_per_call_minor, currency,
              subscription_start, cycle_start)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24);
            """;
        var p = new SqliteParameter[24];
        for (var i = 0; i < p.Length; i++)
        {
            p[i] = command.Parameters.Add(new SqliteParameter("$" + (i + 1), null));
        }
        command.Prepare();
        p[2].Value = now;
        foreach (var c in candidates)
        {
            var e = c.Event;
            p[0].Value = e.EventId;
            p[1].Value = c.OccurredMs;
            p[3].Value = e.EdgeId;
            p[4].Value = e.ApiId;
            p[5].Value = e.ProviderId;
            p[6].Value = e.ConfigVersion;
            p[7].Value = e.KeyId;
            p[8].Value = e.ConsumerId;
            p[9].Value = e.SubscriptionId;
            p[10].Value = e.PlanId;
            p[11].Value = e.Method;
            p[12].Value = e.Route;
            p[13].Value = e.StatusCode;
            p[14].Value = e.LatencyMs;
            p[15].Value = e.BytesIn;
            p[16].Value = e.BytesOut;
            p[17].Value = e.Billable ? 1 : 0;
            p[18].Value = e.MonthlyQuota;
            p[19].Value = e.OverageAllowed ? 1 : 0;
            p[20].Value = e.PricePerCallMinor;
            p[21].Value = e.Currency;
            p[22].Value = e.SubscriptionStart is null ? 0L : EventRules.ToMs(e.SubscriptionStart);
            p[23].Value = c.Cycle.StartMs;
            // 1 = new row; 0 = the id is already stored (earlier batch or earlier in this one).
            if (command.ExecuteNonQuery() == 1)
            {
                inserted.Add(c);
            }
        }
        return inserted;
    }

    private static void InsertQuarantined(SqliteConnection connection, SqliteTransaction transaction, List<Quarantined> quarantined, long now)
    {
        if (quarantined.Count == 0)
        {
            return;
        }
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT OR IGNORE INTO quarantine (quarantine_key, reason, detail, occurred_at, event, received_at)
            VALUES ($key, $reason, $detail, $occurred_at, $event, $now);
            """;
        var key = command.Parameters.Add("$key", SqliteType.Text);
        var reason = command.Parameters.Add("$reason", SqliteType.Integer);
        var detail = command.Parameters.Add("$detail", SqliteType.Text);
        var occurred = command.Parameters.Add("$occurred_at", SqliteType.Integer);
        var payload = command.Parameters.Add("$event", SqliteType.Blob);
        command.Parameters.AddWithValue("$now", now);
        foreach (var q in quarantined)
        {
            key.Value = q.Key;
            reason.Value = (int)q.Reason;
            detail.Value = q.Detail;
            occurred.Value = q.OccurredMs;
            payload.Value = q.Event.ToByteArray();
            command.ExecuteNonQuery();
        }
    }

    private static void UpsertRollups(SqliteConnection connection, SqliteTransaction transaction, List<Candidate> inserted)
    {
        if (inserted.Count == 0)
        {
            return;
        }
        // Aggregate in memory first: a batch of 1000 events touches a handful of buckets.
        var sums = new Dictionary<RollupKey, Sums>();
        foreach (var c in inserted)
        {
            var e = c.Event;
            foreach (var (granularity, unit) in Units)
            {
                var key = new RollupKey(granularity, c.OccurredMs - (c.OccurredMs % unit), e.SubscriptionId, e.KeyId, e.ApiId, e.ConsumerId, e.ProviderId);
                sums[key] = sums.GetValueOrDefault(key).Add(e);
            }
        }
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO rollups (granularity, bucket_start, subscription_id, key_id, api_id, consumer_id, provider_id,
                                 total_calls, billable_calls, bytes_in, bytes_out)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT DO UPDATE SET
              total_calls = total_calls + excluded.total_calls,
              billable_calls = billable_calls + excluded.billable_calls,
              bytes_in = bytes_in + excluded.bytes_in,
              bytes_out = bytes_out + excluded.bytes_out;
            """;
        var p = new SqliteParameter[11];
        for (var i = 0; i < p.Length; i++)
        {
            p[i] = command.Parameters.Add(new SqliteParameter("$" + (i + 1), null));
        }
        foreach (var (key, sum) in sums)
        {
            p[0].Value = (int)key.Granularity;
            p[1].Value = key.BucketStart;
            p[2].Value = key.SubscriptionId;
            p[3].Value = key.KeyId;
            p[4].Value = key.ApiId;
            p[5].Value = key.ConsumerId;
            p[6].Value = key.ProviderId;
            p[7].Value = sum.Total;
            p[8].Value = sum.Billable;
            p[9].Value = sum.BytesIn;
            p[10].Value = sum.BytesOut;
            command.ExecuteNonQuery();
        }
    }

    private static void UpsertSubscriptions(SqliteConnection connection, SqliteTransaction transaction, List<Candidate> inserted)
    {
        var latest = new Dictionary<string, Candidate>(StringComparer.Ordinal);
        foreach (var c in inserted)
        {
            if (c.Event.SubscriptionId.Length > 0 &&
                (!latest.TryGetValue(c.Event.SubscriptionId, out var seen) || seen.OccurredMs <= c.OccurredMs))
            {
                latest[c.Event.SubscriptionId] = c;
            }
        }
        if (latest.Count == 0)
        {
            return;
        }
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        // The newest snapshot wins, whatever order the batches arrive in.
        command.CommandText = """
            INSERT INTO subscriptions (subscription_id, consumer_id, provider_id, api_id, plan_id, monthly_quota,
                                       overage_allowed, price_per_call_minor, currency, subscription_start, terms_observed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (subscription_id) DO UPDATE SET
              consumer_id = excluded.consumer_id, provider_id = excluded.provider_id, api_id = excluded.api_id,
              plan_id = excluded.plan_id, monthly_quota = excluded.monthly_quota, overage_allowed = excluded.overage_allowed,
              price_per_call_minor = excluded.price_per_call_minor, currency = excluded.currency,
              subscription_start = excluded.subscription_start, terms_observed_at = excluded.terms_observed_at
            WHERE excluded.terms_observed_at >= subscriptions.terms_observed_at;
            """;
        var p = new SqliteParameter[11];
        for (var i = 0; i < p.Length; i++)
        {
            p[i] = command.Parameters.Add(new SqliteParameter("$" + (i + 1), null));
        }
        foreach (var c in latest.Values)
        {
            var e = c.Event;
            p[0].Value = e.SubscriptionId;
            p[1].Value = e.ConsumerId;
            p[2].Value = e.ProviderId;
            p[3].Value = e.ApiId;
            p[4].Value = e.PlanId;
            p[5].Value = e.MonthlyQuota;
            p[6].Value = e.OverageAllowed ? 1 : 0;
            p[7].Value = e.PricePerCallMinor;
            p[8].Value = e.Currency;
            p[9].Value = EventRules.ToMs(e.SubscriptionStart);
            p[10].Value = c.OccurredMs;
            command.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// Adds the batch to the per-cycle counters and, where this batch moved a counter across 80%
    /// or 100% of the quota, queues a notification in the same transaction. The counter only
    /// grows, so each threshold is crossed by exactly one batch per cycle; the outbox's unique
    /// key makes that hold even against a bug.
    /// </summary>
    private (bool HardCapReached, List<QueuedNotification> Notifications) UpsertCycles(
        SqliteConnection connection, SqliteTransaction transaction, List<Candidate> inserted, long now)
    {
        var notifications = new List<QueuedNotification>();
        var cycles = new Dictionary<(string Subscription, long Start), CycleSums>();
        foreach (var c in inserted)
        {
            if (c.Event.SubscriptionId.Length == 0)
            {
                continue;
            }
            var key = (c.Event.SubscriptionId, c.Cycle.StartMs);
            cycles.TryGetValue(key, out var sums);
            cycles[key] = sums.Add(c);
        }
        if (cycles.Count == 0)
        {
            return (false, notifications);
        }

        using var upsert = connection.CreateCommand();
        upsert.Transaction = transaction;
        upsert.CommandText = """
            INSERT INTO cycles (subscription_id, cycle_start, cycle_end, total_calls, billable_calls)
            VALUES ($subscription_id, $cycle_start, $cycle_end, $total, $billable)
            ON CONFLICT (subscription_id, cycle_start) DO UPDATE SET
              total_calls = total_calls + excluded.total_calls,
              billable_calls = billable_calls + excluded.billable_calls
            RETURNING billable_calls;
            """;
        var subscription = upsert.Parameters.Add("$subscription_id", SqliteType.Text);
        var cycleStart = upsert.Parameters.Add("$cycle_start", SqliteType.Integer);
        var cycleEnd = upsert.Parameters.Add("$cycle_end", SqliteType.Integer);
        var total = upsert.Parameters.Add("$total", SqliteType.Integer);
        var billable = upsert.Parameters.Add("$billable", SqliteType.Integer);

        using var notify = connection.CreateCommand();
        notify.Transaction = transaction;
        notify.CommandText = """
            INSERT OR IGNORE INTO notifications (id, consumer_id, subscription_id, cycle_start, threshold_percent, payload, next_attempt_at, created_at)
            VALUES ($id, $consumer_id, $subscription_id, $cycle_start, $threshold, $payload, $now, $now);
            """;
        var nId = notify.Parameters.Add("$id", SqliteType.Text);
        var nConsumer = notify.Parameters.Add("$consumer_id", SqliteType.Text);
        var nSubscription = notify.Parameters.Add("$subscription_id", SqliteType.Text);
        var nCycle = notify.Parameters.Add("$cycle_start", SqliteType.Integer);
        var nThreshold = notify.Parameters.Add("$threshold", SqliteType.Integer);
        var nPayload = notify.Parameters.Add("$payload", SqliteType.Text);
        notify.Parameters.AddWithValue("$now", now);

        var hardCapReached = false;
        foreach (var ((subscriptionId, start), sums) in cycles)
        {
            subscription.Value = subscriptionId;
            cycleStart.Value = start;
            cycleEnd.Value = sums.Latest.Cycle.EndMs;
            total.Value = sums.Total;
            billable.Value = sums.Billable;
            var after = (long)upsert.ExecuteScalar()!;
            var before = after - sums.Billable;
            var terms = sums.Latest.Event;
            if (terms.MonthlyQuota <= 0 || sums.Billable == 0)
            {
                continue;
            }
            foreach (var threshold in (ReadOnlySpan<int>)[Threshold80, Threshold100])
            {
                // Crossed in this batch: below the threshold before it, at or above after it.
                var limit = terms.MonthlyQuota * threshold;
                if (before * 100 >= limit || after * 100 < limit)
                {
                    continue;
                }
                if (threshold == Threshold100 && !terms.OverageAllowed)
                {
                    hardCapReached = true;
                }
                var id = NewId("ntf");
                nId.Value = id;
                nConsumer.Value = terms.ConsumerId;
                nSubscription.Value = subscriptionId;
                nCycle.Value = start;
                nThreshold.Value = threshold;
                nPayload.Value = JsonSerializer.Serialize(new NotificationPayload(
                    id, "usage.quota.threshold_reached", DateTimeOffset.FromUnixTimeMilliseconds(now), threshold,
                    subscriptionId, terms.ConsumerId, terms.ApiId, terms.PlanId,
                    DateTimeOffset.FromUnixTimeMilliseconds(start), sums.Latest.Cycle.End,
                    after, terms.MonthlyQuota, terms.OverageAllowed), PayloadJson);
                if (notify.ExecuteNonQuery() == 1)
                {
                    notifications.Add(new QueuedNotification(id, subscriptionId, threshold, start));
                }
            }
        }
        return (hardCapReached, notifications);
    }

    private static long SafeMs(Google.Protobuf.WellKnownTypes.Timestamp t) =>
        t.Seconds is > -9_000_000_000_000 and < 9_000_000_000_000 ? EventRules.ToMs(t) : 0;

    private static readonly (Granularity Granularity, long Unit)[] Units =
        [(Granularity.Minute, MinuteMs), (Granularity.Hour, HourMs), (Granularity.Day, DayMs)];

    internal static long UnitMs(Granularity granularity) => granularity switch
    {
        Granularity.Minute => MinuteMs,
        Granularity.Hour => HourMs,
        _ => DayMs,
    };

    private sealed record Candidate(UsageEvent Event, long OccurredMs, BillingCycle Cycle);

    private sealed record Quarantined(string Key, QuarantineReason Reason, string Detail, long OccurredMs, UsageEvent Event);

    private readonly record struct RollupKey(Granularity Granularity, long BucketStart, string SubscriptionId, string KeyId, string ApiId, string ConsumerId, string ProviderId);

    private readonly record struct Sums(long Total, long Billable, long BytesIn, long BytesOut)
    {
        public Sums Add(UsageEvent e) => new(Total + 1, Billable + (e.Billable ? 1 : 0), BytesIn + e.BytesIn, BytesOut + e.BytesOut);
    }

    private readonly record struct CycleSums(long Total, long Billable, Candidate Latest)
    {
        public CycleSums Add(Candidate c) => new(Total + 1, Billable + (c.Event.Billable ? 1 : 0),
            Latest is null || Latest.OccurredMs <= c.OccurredMs ? c : Latest);
    }

    /// <summary>The JSON body POSTed to the consumer's webhook (snake_case).</summary>
    internal sealed record NotificationPayload(
        string Id, string Type, DateTimeOffset CreatedAt, int ThresholdPercent,
        string SubscriptionId, string ConsumerId, string ApiId, string PlanId,
        DateTimeOffset CycleStart, DateTimeOffset CycleEnd, long Used, long MonthlyQuota, bool OverageAllowed);
}
