using System.Text;
using Microsoft.Data.Sqlite;
using Veil.Usage.V1;

namespace Veil.Usage.Data;

/// <summary>
/// Whose usage a caller may see: a consumer's own, a provider's APIs', or everything (both
/// null). Applied inside every query, so another tenant's rows are never read.
/// </summary>
public sealed record UsageScope(string? ConsumerId, string? ProviderId)
{
    public static readonly UsageScope Everything = new(null, null);
}

/// <summary>Optional narrowing filters of a usage query.</summary>
public sealed record UsageFilter(string? ApiId, string? SubscriptionId, string? KeyId);

/// <summary>One rollup bucket summed over the rows a query matched.</summary>
public sealed record BucketRow(long StartMs, long Total, long Billable, long BytesIn, long BytesOut);

/// <summary>The latest plan-terms snapshot of a subscription.</summary>
public sealed record SubscriptionTerms(
    string SubscriptionId, string ConsumerId, string ProviderId, string ApiId, string PlanId,
    long MonthlyQuota, bool OverageAllowed, long PricePerCallMinor, string Currency, long SubscriptionStartMs);

/// <summary>Counters of one billing cycle.</summary>
public sealed record CycleCounts(long Total, long Billable);

/// <summary>A hard-capped subscription whose current cycle is exhausted.</summary>
public sealed record ExhaustedRow(string SubscriptionId, string ConsumerId, string ApiId, long CycleStartMs, long CycleEndMs, long Used, long MonthlyQuota);

/// <summary>
/// A cycle with its counters and its subscription's terms; <see cref="QuotaUsedBefore"/> is what the
/// consumer's earlier subscriptions to the API already counted against the quota of the same cycle.
/// </summary>
public sealed record CycleUsageRow(SubscriptionTerms Terms, long CycleStartMs, long CycleEndMs, long Total, long Billable, long QuotaUsedBefore);

/// <summary>A quarantined event.</summary>
public sealed record QuarantineRow(long Id, QuarantineReason Reason, string Detail, UsageEvent Event, long ReceivedAtMs);

public sealed partial class UsageStore
{
    /// <summary>
    /// Sums of the rollups of <paramref name="granularity"/> with bucket starts in
    /// [<paramref name="startMs"/>, <paramref name="endMs"/>), per bucket, oldest first.
    /// </summary>
    public async Task<List<BucketRow>> QueryBucketsAsync(
        Granularity granularity, long startMs, long endMs, UsageScope scope, UsageFilter filter, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // Only fixed fragments are appended; every value is a parameter. Present filters only,
        // so SQLite can pick the index that matches the caller's scope.
        var sql = new StringBuilder("""
            SELECT bucket_start, SUM(total_calls), SUM(billable_calls), SUM(bytes_in), SUM(bytes_out)
            FROM rollups
            WHERE granularity = $granularity AND bucket_start >= $start AND bucket_start < $end
            """);
        command.Parameters.AddWithValue("$granularity", (int)granularity);
        command.Parameters.AddWithValue("$start", startMs);
        command.Parameters.AddWithValue("$end", endMs);
        AppendScope(sql, command, scope, filter);
        sql.Append(" GROUP BY bucket_start ORDER BY bucket_start;");
        command.CommandText = sql.ToString();

        var rows = new List<BucketRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new BucketRow(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        }
        return rows;
    }

    private static void AppendScope(StringBuilder sql, SqliteCommand command, UsageScope scope, UsageFilter filter)
    {
        void Equal(string column, string? value)
        {
            if (value is not null)
            {
                sql.Append($" AND {column} = ${column}");
                command.Parameters.AddWithValue("$" + column, value);
            }
        }
        Equal("consumer_id", scope.ConsumerId);
        Equal("provider_id", scope.ProviderId);
        Equal("api_id", filter.ApiId);
        Equal("subscription_id", filter.SubscriptionId);
        Equal("key_id", filter.KeyId);
    }

    /// <summary>The subscription's latest terms, or null when it has no events or is outside <paramref name="scope"/>.</summary>
    public async Task<SubscriptionTerms?> GetSubscriptionAsync(string subscriptionId, UsageScope scope, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder($"{SelectTerms} WHERE subscription_id = $subscription_id");
        command.Parameters.AddWithValue("$subscription_id", subscriptionId);
        if (scope.ConsumerId is not null)
        {
            sql.Append(" AND consumer_id = $consumer_id");
            command.Parameters.AddWithValue("$consumer_id", scope.ConsumerId);
        }
        if (scope.ProviderId is not null)
        {
            sql.Append(" AND provider_id = $provider_id");
            command.Parameters.AddWithValue("$provider_id", scope.ProviderId);
        }
        command.CommandText = sql.ToString();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadTerms(reader, 0) : null;
    }

    /// <summary>
    /// The quota's counters of one cycle: the consumer's calls to the API in the cycle starting at
    /// <paramref name="cycleStartMs"/> under every subscription sharing it (zero when none).
    /// </summary>
    public async Task<CycleCounts> GetQuotaCountsAsync(string consumerId, string apiId, long cycleStartMs, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT COALESCE(SUM(c.total_calls), 0), COALESCE(SUM(c.billable_calls), 0)
            FROM subscriptions s JOIN cycles c ON c.subscription_id = s.subscription_id AND c.cycle_start = $c
            WHERE s.consumer_id = $consumer AND s.api_id = $api;
            """;
        command.Parameters.AddWithValue("$consumer", consumerId);
        command.Parameters.AddWithValue("$api", apiId);
        command.Parameters.AddWithValue("$c", cycleStartMs);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new CycleCounts(reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>
    /// Hard-capped subscriptions whose cycle containing <paramref name="nowMs"/> has used the whole
    /// quota, counted per consumer, API and cycle (see <see cref="GetQuotaCountsAsync"/>).
    /// </summary>
    public async Task<List<ExhaustedRow>> LoadExhaustedAsync(long nowMs, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            WITH current AS (
              SELECT c.subscription_id, s.consumer_id, s.api_id, c.cycle_start, c.cycle_end, c.billable_calls, s.monthly_quota, s.overage_allowed
              FROM cycles c JOIN subscriptions s ON s.subscription_id = c.subscription_id
              WHERE c.cycle_end > $now AND c.cycle_start <= $now),
            quota AS (
              SELECT consumer_id, api_id, cycle_start, SUM(billable_calls) AS used FROM current GROUP BY consumer_id, api_id, cycle_start)
            SELECT c.subscription_id, c.consumer_id, c.api_id, c.cycle_start, c.cycle_end, q.used, c.monthly_quota
            FROM current c JOIN quota q ON q.consumer_id = c.consumer_id AND q.api_id = c.api_id AND q.cycle_start = c.cycle_start
            WHERE c.overage_allowed = 0 AND c.monthly_quota > 0 AND q.used >= c.monthly_quota
            ORDER BY c.subscription_id;
            """;
        command.Parameters.AddWithValue("$now", nowMs);
        var rows = new List<ExhaustedRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ExhaustedRow(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6)));
        }
        return rows;
    }

    /// <summary>
    /// Cycles ordered by (subscription, start), after the keyset cursor <paramref name="after"/>;
    /// with <paramref name="recount"/> the counts come from the raw events instead of the counters.
    /// </summary>
    public async Task<List<CycleUsageRow>> ListCyclesAsync(
        string? subscriptionId, long? endAfterMs, long? startBeforeMs, bool recount, int limit,
        (string SubscriptionId, long CycleStartMs)? after, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        // One snapshot for the page and its recounts.
        await using var transaction = connection.BeginTransaction(deferred: true);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        var sql = new StringBuilder($"""
            SELECT {TermsColumns("s.")}, c.cycle_start, c.cycle_end, c.total_calls, c.billable_calls,
              -- Earlier = first seen earlier: only one subscription per consumer and API is active at a time.
              (SELECT COALESCE(SUM(c2.billable_calls), 0)
               FROM subscriptions s2 JOIN cycles c2 ON c2.subscription_id = s2.subscription_id AND c2.cycle_start = c.cycle_start
               WHERE s2.consumer_id = s.consumer_id AND s2.api_id = s.api_id AND s2.rowid < s.rowid)
            FROM cycles c JOIN subscriptions s ON s.subscription_id = c.subscription_id
            WHERE 1 = 1
            """);
        if (subscriptionId is not null)
        {
            sql.Append(" AND c.subscription_id = $subscription_id");
            command.Parameters.AddWithValue("$subscription_id", subscriptionId);
        }
        if (endAfterMs is { } endAfter)
        {
            sql.Append(" AND c.cycle_end > $end_after");
            command.Parameters.AddWithValue("$end_after", endAfter);
        }
        if (startBeforeMs is { } startBefore)
        {
            sql.Append(" AND c.cycle_start < $start_before");
            command.Parameters.AddWithValue("$start_before", startBefore);
        }
        if (after is { } cursor)
        {
            sql.Append(" AND (c.subscription_id, c.cycle_start) > ($after_subscription, $after_start)");
            command.Parameters.AddWithValue("$after_subscription", cursor.SubscriptionId);
            command.Parameters.AddWithValue("$after_start", cursor.CycleStartMs);
        }
        sql.Append(" ORDER BY c.subscription_id, c.cycle_start LIMIT $limit;");
        command.Parameters.AddWithValue("$limit", limit);
        command.CommandText = sql.ToString();

        var rows = new List<CycleUsageRow>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new CycleUsageRow(ReadTerms(reader, 0), reader.GetInt64(10), reader.GetInt64(11), reader.GetInt64(12), reader.GetInt64(13),
                    reader.GetInt64(14)));
            }
        }
        if (!recount)
        {
            return rows;
        }

        await using var count = connection.CreateCommand();
        count.Transaction = transaction;
        count.CommandText = """
            SELECT COUNT(*), COALESCE(SUM(e.billable), 0)
            FROM contexts c JOIN events e ON e.context_id = c.id AND e.cycle_start = $cycle_start
            WHERE c.subscription_id = $subscription_id;
            """;
        var s = count.Parameters.Add("$subscription_id", SqliteType.Text);
        var c = count.Parameters.Add("$cycle_start", SqliteType.Integer);
        for (var i = 0; i < rows.Count; i++)
        {
            s.Value = rows[i].Terms.SubscriptionId;
            c.Value = rows[i].CycleStartMs;
            await using var reader = await count.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            rows[i] = rows[i] with { Total = reader.GetInt64(0), Billable = reader.GetInt64(1) };
        }
        return rows;
    }

    /// <summary>Quarantined events, most recent first, with ids below <paramref name="beforeId"/>.</summary>
    public async Task<List<QuarantineRow>> ListQuarantineAsync(int limit, long? beforeId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT id, reason, detail, event, received_at FROM quarantine
            WHERE id < $before ORDER BY id DESC LIMIT $limit;
            """;
        command.Parameters.AddWithValue("$before", beforeId ?? long.MaxValue);
        command.Parameters.AddWithValue("$limit", limit);
        var rows = new List<QuarantineRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            // Stored from ToByteArray() of a parsed message, so it always parses.
            var e = UsageEvent.Parser.ParseFrom((byte[])reader.GetValue(3));
            rows.Add(new QuarantineRow(reader.GetInt64(0), (QuarantineReason)reader.GetInt32(1), reader.GetString(2), e, reader.GetInt64(4)));
        }
        return rows;
    }

    private static string TermsColumns(string prefix) =>
        $"{prefix}subscription_id, {prefix}consumer_id, {prefix}provider_id, {prefix}api_id, {prefix}plan_id, {prefix}monthly_quota, " +
        $"{prefix}overage_allowed, {prefix}price_per_call_minor, {prefix}currency, {prefix}subscription_start";

    private static readonly string SelectTerms = $"SELECT {TermsColumns("")} FROM subscriptions";

    private static SubscriptionTerms ReadTerms(SqliteDataReader reader, int offset) => new(
        reader.GetString(offset), reader.GetString(offset + 1), reader.GetString(offset + 2), reader.GetString(offset + 3),
        reader.GetString(offset + 4), reader.GetInt64(offset + 5), reader.GetInt64(offset + 6) != 0, reader.GetInt64(offset + 7),
        reader.GetString(offset + 8), reader.GetInt64(offset + 9));
}
