using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Billing;
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

/// <summary>What one IngestEvents batch did; <paramref name="QuarantinedBillable"/> counts the quarantined events that were billable.</summary>
public sealed record IngestResult(int Accepted, int Duplicates, int OutsideWindow, int Future, int Invalid, long? OldestAcceptedMs,
    int QuarantinedBillable = 0)
{
    public int Quarantined => OutsideWindow + Future + Invalid;
}

/// <summary>What an ingest transaction changed beyond the counts: a hard cap reached, notifications queued.</summary>
public sealed record CommitEffects(bool HardCapReached, IReadOnlyList<QueuedNotification> Notifications);

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

    private static readonly JsonSerializerOptions PayloadJson = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Most events one group-commit transaction takes (bounds its duration and memory).</summary>
    private const int MaxGroupEvents = 20_000;

    /// <summary>Contexts kept in memory before the cache starts over (a miss costs one indexed lookup).</summary>
    private const int MaxCachedContexts = 100_000;

    private readonly SemaphoreSlim _writeGate = new(1, 1);

    /// <summary>Context ids by context, for ingest; only touched under the write gate.</summary>
    private readonly Dictionary<EventContext, long> _contexts = [];
    private readonly LinkedList<Batch> _queue = new();
    private readonly Channel<bool> _eventsCommitted = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>
    /// Raised after an ingest transaction that reached a hard cap or queued notifications, on the
    /// writing thread; handlers only signal their workers. Raised by the store itself so that no
    /// effect depends on a caller still waiting for its answer.
    /// </summary>
    public event Action<CommitEffects>? Committed;

    /// <summary>Completes when events were committed since the last call (the roller's cue).</summary>
    public ValueTask<bool> WaitForNewEventsAsync(CancellationToken cancellationToken) =>
        _eventsCommitted.Reader.ReadAsync(cancellationToken);

    /// <summary>
    /// Stores a batch: every countable event is inserted with <c>INSERT OR IGNORE</c> on its id
    /// through one reused statement, and only the rows that were really inserted (changes() = 1)
    /// feed the cycle counters and the threshold checks, so a duplicate never counts twice.
    /// Batches that arrive while another is being written are committed together in the next
    /// immediate transaction (group commit): one fsync for all of them, and each caller returns
    /// only after the transaction holding its batch has committed.
    /// </summary>
    public async Task<IngestResult> IngestAsync(IngestEventsRequest request, CancellationToken cancellationToken)
    {
        var batch = Classify(request);
        lock (_queue)
        {
            _queue.AddLast(batch);
        }
        try
        {
            await _writeGate.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            lock (_queue)
            {
                // Still queued: nobody will write it. Already taken: it is committed (or fails) anyway.
                _queue.Remove(batch);
            }
            throw;
        }
        try
        {
            if (!batch.Completion.Task.IsCompleted)
            {
                await WriteGroupAsync(cancellationToken);
            }
        }
        finally
        {
            _writeGate.Release();
        }
        return await batch.Completion.Task;
    }

    /// <summary>
    /// Validation, the dedup window and cycle arithmetic: everything that needs no database. A
    /// group's context is checked and resolved once for all its calls; a single event is its own
    /// context.
    /// </summary>
    private Batch Classify(IngestEventsRequest request)
    {
        var classifier = new Classifier(time.GetUtcNow().ToUnixTimeMilliseconds(), options.Value, request.EventCount);
        foreach (var e in request.Events)
        {
            EventRules.Normalize(e);
            if (EventRules.Check(e) is { } problem)
            {
                classifier.Invalid(e, problem);
                continue;
            }
            classifier.Add(new CallContext(e), e.EventId, e.OccurredAt!.ToUnixMilliseconds(), e.StatusCode, e.LatencyMs, e.BytesIn, e.BytesOut,
                e.Billable, e.RequestId, e.Path, e, null, 0);
        }
        foreach (var group in request.Groups)
        {
            var count = group.CallCount;
            if (count < 0)
            {
                throw new ArgumentException("A group's columns differ in length.", nameof(request));
            }
            var terms = group.Context ?? new UsageEvent();
            EventRules.Normalize(terms);
            var context = new CallContext(terms);
            var contextProblem = EventRules.CheckContext(context.Terms);
            for (var i = 0; i < count; i++)
            {
                var (eventId, occurredMs, status, latency, bytesIn, bytesOut, billable) = (group.EventIds[i], group.OccurredAtMs[i],
                    group.StatusCodes[i], group.LatenciesMs[i], group.BytesIn[i], group.BytesOut[i], group.Billable[i]);
                var (requestId, path) = (group.RequestIdAt(i), group.PathAt(i));
                var problem = !EventRules.IsValidEventId(eventId) ? EventRules.EventIdProblem
                    : !EventRules.IsValidTime(occurredMs) ? EventRules.OccurredAtProblem
                    : contextProblem ?? EventRules.CheckCall(context.Terms, occurredMs, status, latency, bytesIn, bytesOut, billable)
                        ?? EventRules.CheckCallLog(requestId, path);
                if (problem is not null)
                {
                    classifier.Invalid(group.ToEvent(i), problem);
                    continue;
                }
                classifier.Add(context, eventId, occurredMs, status, latency, bytesIn, bytesOut, billable, requestId, path, null, group, i);
            }
        }
        return classifier.Batch;
    }

    /// <summary>Sorts one request's calls into candidates and quarantine (see <see cref="Classify"/>).</summary>
    private sealed class Classifier(long nowMs, UsageOptions settings, int capacity)
    {
        private readonly long _oldestAllowed = nowMs - (long)settings.DedupWindow.TotalMilliseconds;
        private readonly long _newestAllowed = nowMs + (long)settings.MaxClockSkew.TotalMilliseconds;
        private (long Anchor, BillingCycle Cycle) _lastCycle = (long.MinValue, default);

        public Batch Batch { get; } = new(new List<Candidate>(capacity), []);

        public void Invalid(UsageEvent e, string problem)
        {
            var key = EventRules.IsValidEventId(e.EventId) ? e.EventId : "sha256:" + Convert.ToHexStringLower(SHA256.HashData(e.ToByteArray()));
            var occurred = e.OccurredAt is null ? 0 : SafeMs(e.OccurredAt);
            Batch.Quarantined.Add(new(key, QuarantineReason.Invalid, problem, occurred, e));
            Batch.Invalid++;
            Batch.QuarantinedBillable += e.Billable ? 1 : 0;
        }

        /// <summary>A valid call: a candidate, or quarantined when outside the window (<paramref name="single"/> or group[index] is the whole event).</summary>
        public void Add(CallContext context, string eventId, long occurredMs, int status, long latency, long bytesIn, long bytesOut, bool billable,
            string requestId, string path, UsageEvent? single, UsageEventGroup? group, int index)
        {
            if (occurredMs < _oldestAllowed)
            {
                Batch.Quarantined.Add(new(eventId, QuarantineReason.OutsideWindow,
                    $"occurred_at is older than the {settings.DedupWindow.TotalDays:0.##}-day deduplication window", occurredMs,
                    single ?? group!.ToEvent(index)));
                Batch.OutsideWindow++;
                Batch.QuarantinedBillable += billable ? 1 : 0;
                return;
            }
            if (occurredMs > _newestAllowed)
            {
                Batch.Quarantined.Add(new(eventId, QuarantineReason.Future,
                    $"occurred_at is more than {settings.MaxClockSkew} ahead of the usage service's clock", occurredMs,
                    single ?? group!.ToEvent(index)));
                Batch.Future++;
                Batch.QuarantinedBillable += billable ? 1 : 0;
                return;
            }
            var cycle = default(BillingCycle);
            if (context.Terms.SubscriptionId.Length > 0)
            {
                var anchor = context.SubscriptionStartMs;
                // Events of one subscription mostly share a cycle: reuse the last one computed.
                if (_lastCycle.Anchor != anchor || !_lastCycle.Cycle.Contains(Math.Max(anchor, occurredMs)))
                {
                    _lastCycle = (anchor, BillingCycle.Containing(anchor, occurredMs));
                }
                cycle = _lastCycle.Cycle;
            }
            Batch.Candidates.Add(new(context, eventId, occurredMs, status, latency, bytesIn, bytesOut, billable, cycle, requestId, path));
        }
    }

    /// <summary>Writes every queued batch (up to a bound) in one transaction; called holding the write gate.</summary>
    private async Task WriteGroupAsync(CancellationToken cancellationToken)
    {
        var group = new List<Batch>();
        var newContexts = new List<EventContext>();
        if (_contexts.Count > MaxCachedContexts)
        {
            _contexts.Clear();
        }
        lock (_queue)
        {
            var events = 0;
            while (_queue.First is { } first && (group.Count == 0 || events + first.Value.Candidates.Count <= MaxGroupEvents))
            {
                group.Add(first.Value);
                events += first.Value.Candidates.Count;
                _queue.RemoveFirst();
            }
        }
        try
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            await using var connection = await OpenWriterAsync(CancellationToken.None);
            await using var transaction = connection.BeginTransaction();
            var inserted = new List<Candidate>();
            foreach (var batch in group)
            {
                var before = inserted.Count;
                InsertEvents(connection, batch.Candidates, now, inserted, newContexts);
                batch.Accepted = inserted.Count - before;
                InsertQuarantined(connection, batch.Quarantined, now);
            }
            UpsertSubscriptions(connection, inserted);
            var (hardCapReached, notifications) = UpsertCycles(connection, inserted, now);
            // Not cancellable from here: a group holds other callers' batches too.
            await transaction.CommitAsync(CancellationToken.None);
            _eventsCommitted.Writer.TryWrite(true);

            if (hardCapReached || notifications.Count > 0)
            {
                Committed?.Invoke(new CommitEffects(hardCapReached, notifications));
            }

            long? oldestAccepted = inserted.Count == 0 ? null : inserted.Min(c => c.OccurredMs);
            foreach (var b in group)
            {
                b.Completion.TrySetResult(new IngestResult(b.Accepted, b.Candidates.Count - b.Accepted, b.OutsideWindow, b.Future, b.Invalid,
                    oldestAccepted, b.QuarantinedBillable));
            }
        }
        catch (Exception ex)
        {
            // Their rows were rolled back with the transaction: the ids must not be reused.
            foreach (var context in newContexts)
            {
                _contexts.Remove(context);
            }
            foreach (var b in group)
            {
                b.Completion.TrySetException(ex);
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// A connection for a write under the gate, with a page cache large enough for the working
    /// set of ingest and rollups (the default 2 MiB made most B-tree steps a pread), memory-
    /// mapped reads, fewer and larger checkpoints, and in-memory temporary tables. Writes are
    /// serialised, so the pool mostly hands back the same connection and its cache stays warm.
    /// </summary>
    private async Task<SqliteConnection> OpenWriterAsync(CancellationToken cancellationToken)
    {
        var connection = await database.OpenAsync(cancellationToken);
        try
        {
            ConfigureWriter(connection);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static void ConfigureWriter(SqliteConnection connection)
    {
        using var pragma = new FastStatement(connection, "PRAGMA cache_size=-65536;");
        pragma.Execute();
        using var mmap = new FastStatement(connection, "PRAGMA mmap_size=268435456;");
        mmap.ExecuteScalar();
        // Checkpoint every 32 MiB of WAL instead of 4 MiB: hot pages (counters, index tails) are
        // rewritten by every commit, and a checkpoint copies only their last version.
        using var checkpoint = new FastStatement(connection, "PRAGMA wal_autocheckpoint=8192;");
        checkpoint.ExecuteScalar();
        using var temp = new FastStatement(connection, "PRAGMA temp_store=MEMORY;");
        temp.Execute();
    }

    private void InsertEvents(SqliteConnection connection, List<Candidate> candidates, long now, List<Candidate> inserted, List<EventContext> newContexts)
    {
        if (candidates.Count == 0)
        {
            return;
        }
        using var insert = new FastStatement(connection, """
            INSERT OR IGNORE INTO events (
              event_id, context_id, occurred_at, received_at, status_code, latency_ms, bytes_in, bytes_out, billable, cycle_start)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);
            """);
        // The call log's row of each new event, under the event's id (last_insert_rowid: no round trip).
        using var call = new FastStatement(connection, """
            INSERT INTO calls (id, context_id, occurred_at, request_id, path) VALUES (last_insert_rowid(), ?1, ?2, ?3, ?4);
            """);
        using var contexts = new ContextStatements(connection);
        insert.Bind(4, now);
        // A reset keeps bindings: what a group's calls share is bound when it changes, not per call.
        long boundContext = 0, boundCycle = long.MinValue;
        foreach (var c in candidates)
        {
            // Resolved once per context object: once per group, or per single event.
            var contextId = c.Context.Id;
            if (contextId == 0)
            {
                var context = c.Context.Key;
                if (!_contexts.TryGetValue(context, out contextId))
                {
                    contextId = contexts.GetOrInsert(context);
                    _contexts[context] = contextId;
                    newContexts.Add(context);
                }
                c.Context.Id = contextId;
            }
            if (contextId != boundContext)
            {
                insert.Bind(2, contextId);
                call.Bind(1, contextId);
                boundContext = contextId;
            }
            if (c.Cycle.StartMs != boundCycle)
            {
                insert.Bind(10, c.Cycle.StartMs);
                boundCycle = c.Cycle.StartMs;
            }
            insert.Bind(1, c.EventId).Bind(3, c.OccurredMs).Bind(5, c.StatusCode).Bind(6, c.LatencyMs)
                .Bind(7, c.BytesIn).Bind(8, c.BytesOut).Bind(9, c.Billable);
            // 1 = new row; 0 = the id is already stored (earlier batch or earlier in this one).
            if (insert.Execute() == 1)
            {
                call.Bind(2, c.OccurredMs).Bind(3, c.RequestId).Bind(4, c.Path).Execute();
                inserted.Add(c);
            }
        }
    }

    private static void InsertQuarantined(SqliteConnection connection, List<Quarantined> quarantined, long now)
    {
        if (quarantined.Count == 0)
        {
            return;
        }
        using var insert = new FastStatement(connection, """
            INSERT OR IGNORE INTO quarantine (quarantine_key, reason, detail, occurred_at, event, received_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6);
            """);
        foreach (var q in quarantined)
        {
            insert.Bind(1, q.Key).Bind(2, (long)q.Reason).Bind(3, q.Detail).Bind(4, q.OccurredMs).Bind(5, q.Event.ToByteArray()).Bind(6, now).Execute();
        }
    }

    private static void UpsertSubscriptions(SqliteConnection connection, List<Candidate> inserted)
    {
        var latest = new Dictionary<string, Candidate>(StringComparer.Ordinal);
        foreach (var c in inserted)
        {
            var subscriptionId = c.Context.Terms.SubscriptionId;
            if (subscriptionId.Length > 0 && (!latest.TryGetValue(subscriptionId, out var seen) || seen.OccurredMs <= c.OccurredMs))
            {
                latest[subscriptionId] = c;
            }
        }
        if (latest.Count == 0)
        {
            return;
        }
        // The newest snapshot wins, whatever order the batches arrive in. Unchanged terms are not
        // rewritten (the WHERE fails), so the steady state dirties no page here.
        using var upsert = new FastStatement(connection, """
            INSERT INTO subscriptions (subscription_id, consumer_id, provider_id, api_id, plan_id, monthly_quota,
                                       overage_allowed, price_per_call_minor, currency, subscription_start, terms_observed_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
            ON CONFLICT (subscription_id) DO UPDATE SET
              consumer_id = excluded.consumer_id, provider_id = excluded.provider_id, api_id = excluded.api_id,
              plan_id = excluded.plan_id, monthly_quota = excluded.monthly_quota, overage_allowed = excluded.overage_allowed,
              price_per_call_minor = excluded.price_per_call_minor, currency = excluded.currency,
              subscription_start = excluded.subscription_start, terms_observed_at = excluded.terms_observed_at
            WHERE excluded.terms_observed_at > subscriptions.terms_observed_at
              AND (consumer_id, provider_id, api_id, plan_id, monthly_quota, overage_allowed, price_per_call_minor, currency, subscription_start)
               IS NOT (excluded.consumer_id, excluded.provider_id, excluded.api_id, excluded.plan_id, excluded.monthly_quota,
                       excluded.overage_allowed, excluded.price_per_call_minor, excluded.currency, excluded.subscription_start);
            """);
        foreach (var c in latest.Values)
        {
            var e = c.Context.Terms;
            upsert.Bind(1, e.SubscriptionId).Bind(2, e.ConsumerId).Bind(3, e.ProviderId).Bind(4, e.ApiId).Bind(5, e.PlanId)
                .Bind(6, e.MonthlyQuota).Bind(7, e.OverageAllowed).Bind(8, e.PricePerCallMinor).Bind(9, e.Currency)
                .Bind(10, c.Context.SubscriptionStartMs).Bind(11, c.OccurredMs)
                .Execute();
        }
    }

    /// <summary>
    /// Adds the new events to the per-cycle counters and, where this transaction moved the quota's
    /// count across 80% or 100% of the quota, queues a notification in the same transaction. The
    /// quota's count is the consumer's billable calls to the API in the cycle under every
    /// subscription sharing it (one cancelled within the cycle and its successor share the anchor),
    /// so re-subscribing never resets it. Counters only grow, so each threshold is crossed by exactly
    /// one transaction per cycle; the outbox's unique key makes that hold even against a bug.
    /// </summary>
    private static (bool HardCapReached, List<QueuedNotification> Notifications) UpsertCycles(
        SqliteConnection connection, List<Candidate> inserted, long now)
    {
        var notifications = new List<QueuedNotification>();
        var cycles = new Dictionary<(string Subscription, long Start), CycleSums>();
        foreach (var c in inserted)
        {
            if (c.Context.Terms.SubscriptionId.Length == 0)
            {
                continue;
            }
            var key = (c.Context.Terms.SubscriptionId, c.Cycle.StartMs);
            cycles.TryGetValue(key, out var sums);
            cycles[key] = sums.Add(c);
        }
        if (cycles.Count == 0)
        {
            return (false, notifications);
        }

        using var upsert = new FastStatement(connection, """
            INSERT INTO cycles (subscription_id, cycle_start, cycle_end, total_calls, billable_calls)
            VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (subscription_id, cycle_start) DO UPDATE SET
              total_calls = total_calls + excluded.total_calls,
              billable_calls = billable_calls + excluded.billable_calls
            RETURNING billable_calls;
            """);
        FastStatement? notify = null;
        FastStatement? siblings = null;
        try
        {
            var hardCapReached = false;
            foreach (var ((subscriptionId, start), sums) in cycles)
            {
                var own = upsert.Bind(1, subscriptionId).Bind(2, start).Bind(3, sums.Latest.Cycle.EndMs)
                    .Bind(4, sums.Total).Bind(5, sums.Billable).ExecuteScalar()!.Value;
                var terms = sums.Latest.Context.Terms;
                if (terms.MonthlyQuota <= 0 || sums.Billable == 0)
                {
                    continue;
                }
                siblings ??= new FastStatement(connection, OtherSubscriptionsBillableSql);
                var after = own + siblings.Bind(1, terms.ConsumerId).Bind(2, terms.ApiId).Bind(3, start).Bind(4, subscriptionId).ExecuteScalar()!.Value;
                var before = after - sums.Billable;
                // A subscription's first billable calls of a cycle another one already used: its
                // thresholds count as crossed now, or a hard cap already spent would never close.
                var firstCalls = own == sums.Billable;
                foreach (var threshold in (ReadOnlySpan<int>)[Threshold80, Threshold100])
                {
                    // Crossed here: below the threshold before this transaction (or first calls), at or above after it.
                    var limit = terms.MonthlyQuota * threshold;
                    if ((before * 100 >= limit && !firstCalls) || after * 100 < limit)
                    {
                        continue;
                    }
                    if (threshold == Threshold100 && !terms.OverageAllowed)
                    {
                        hardCapReached = true;
                    }
                    notify ??= new FastStatement(connection, """
                        INSERT OR IGNORE INTO notifications (id, consumer_id, subscription_id, cycle_start, threshold_percent, payload, next_attempt_at, created_at)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7);
                        """);
                    var id = ResourceIds.New("ntf");
                    var payload = JsonSerializer.Serialize(new NotificationPayload(
                        id, "usage.quota.threshold_reached", DateTimeOffset.FromUnixTimeMilliseconds(now), threshold,
                        subscriptionId, terms.ConsumerId, terms.ApiId, terms.PlanId,
                        DateTimeOffset.FromUnixTimeMilliseconds(start), sums.Latest.Cycle.End,
                        after, terms.MonthlyQuota, terms.OverageAllowed), PayloadJson);
                    if (notify.Bind(1, id).Bind(2, terms.ConsumerId).Bind(3, subscriptionId).Bind(4, start)
                        .Bind(5, threshold).Bind(6, payload).Bind(7, now).Execute() == 1)
                    {
                        notifications.Add(new QueuedNotification(id, subscriptionId, threshold, start));
                    }
                }
            }
            return (hardCapReached, notifications);
        }
        finally
        {
            notify?.Dispose();
            siblings?.Dispose();
        }
    }

    /// <summary>
    /// Billable calls of the consumer (?1) to the API (?2) in the cycle starting at ?3 under its
    /// subscriptions other than ?4: what they add to that subscription's quota count.
    /// </summary>
    private const string OtherSubscriptionsBillableSql = """
        SELECT COALESCE(SUM(c.billable_calls), 0)
        FROM subscriptions s JOIN cycles c ON c.subscription_id = s.subscription_id AND c.cycle_start = ?3
        WHERE s.consumer_id = ?1 AND s.api_id = ?2 AND s.subscription_id <> ?4;
        """;

    private static long SafeMs(Google.Protobuf.WellKnownTypes.Timestamp t) =>
        t.Seconds is > -9_000_000_000_000 and < 9_000_000_000_000 ? t.ToUnixMilliseconds() : 0;

    private static readonly (Granularity Granularity, long Unit)[] Units =
        [(Granularity.Minute, MinuteMs), (Granularity.Hour, HourMs), (Granularity.Day, DayMs)];

    internal static long UnitMs(Granularity granularity) => granularity switch
    {
        Granularity.Minute => MinuteMs,
        Granularity.Hour => HourMs,
        _ => DayMs,
    };

    /// <summary>
    /// What a batch's calls share: a group's context, or a single event (its per-call fields are
    /// ignored here). Resolved to a <c>contexts</c> row once, by the first of its calls written.
    /// </summary>
    private sealed class CallContext
    {
        public CallContext(UsageEvent terms)
        {
            Terms = terms;
            SubscriptionStartMs = terms.SubscriptionStart is null ? 0L : terms.SubscriptionStart.ToUnixMilliseconds();
            Key = new EventContext(terms, SubscriptionStartMs);
        }

        public UsageEvent Terms { get; }

        public long SubscriptionStartMs { get; }

        public EventContext Key { get; }

        /// <summary>The <c>contexts</c> row, once known (0 before).</summary>
        public long Id { get; set; }
    }

    /// <summary>One valid call inside the window, on its way into the events table.</summary>
    private sealed record Candidate(CallContext Context, string EventId, long OccurredMs, int StatusCode, long LatencyMs, long BytesIn,
        long BytesOut, bool Billable, BillingCycle Cycle, string RequestId, string Path);

    /// <summary>One IngestEvents call on its way through group commit.</summary>
    private sealed class Batch(List<Candidate> candidates, List<Quarantined> quarantined)
    {
        public List<Candidate> Candidates { get; } = candidates;

        public List<Quarantined> Quarantined { get; } = quarantined;

        public int OutsideWindow { get; set; }

        public int Future { get; set; }

        public int Invalid { get; set; }

        public int QuarantinedBillable { get; set; }

        public int Accepted { get; set; }

        public TaskCompletionSource<IngestResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed record Quarantined(string Key, QuarantineReason Reason, string Detail, long OccurredMs, UsageEvent Event);

    private readonly record struct CycleSums(long Total, long Billable, Candidate Latest)
    {
        public CycleSums Add(Candidate c) => new(Total + 1, Billable + (c.Billable ? 1 : 0),
            Latest is null || Latest.OccurredMs <= c.OccurredMs ? c : Latest);
    }

    /// <summary>The JSON body POSTed to the consumer's webhook (camelCase, as every Veil JSON).</summary>
    internal sealed record NotificationPayload(
        string Id, string Type, DateTimeOffset CreatedAt, int ThresholdPercent,
        string SubscriptionId, string ConsumerId, string ApiId, string PlanId,
        DateTimeOffset CycleStart, DateTimeOffset CycleEnd, long Used, long MonthlyQuota, bool OverageAllowed);
}
