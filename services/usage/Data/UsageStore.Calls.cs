using System.Text;

namespace Veil.Usage.Data;

/// <summary>
/// What a call-log page may hold: calls that occurred in [<paramref name="StartMs"/>,
/// <paramref name="EndMs"/>) with a status in [<paramref name="StatusMin"/>, <paramref name="StatusMax"/>],
/// optionally of one key or one API.
/// </summary>
public sealed record CallFilter(string? KeyId, string? ApiId, int StatusMin, int StatusMax, long StartMs, long EndMs);

/// <summary>A call-log position: calls strictly older than it (by occurred_at, then id) come next.</summary>
public readonly record struct CallCursor(long OccurredMs, long Id);

/// <summary>One call of the call log.</summary>
public sealed record CallRow(long Id, string EventId, long OccurredMs, string ApiId, string Method, string Path, int StatusCode,
    long LatencyMs, string RequestId, string KeyId, string KeyPrefix, string ConsumerId, bool Billable)
{
    public CallCursor Cursor => new(OccurredMs, Id);
}

public sealed partial class UsageStore
{
    /// <summary>
    /// The newest <paramref name="limit"/> calls in <paramref name="scope"/> matching
    /// <paramref name="filter"/>, older than <paramref name="before"/>, newest first. The scope and
    /// the key and API filters pick the visible contexts; each context's calls are one backward
    /// range of <c>calls_context_time</c>, read only down to the oldest call the page already
    /// holds, and the ranges are merged here. Another tenant's calls are never read.
    /// </summary>
    public async Task<List<CallRow>> ListCallsAsync(UsageScope scope, CallFilter filter, CallCursor? before, int limit,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        // One snapshot for the contexts and every range.
        await using var transaction = connection.BeginTransaction(deferred: true);

        var contexts = new List<(long Id, string ApiId, string Method, string KeyId, string KeyPrefix, string ConsumerId)>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            // Only fixed fragments are appended; every value is a parameter.
            var sql = new StringBuilder("""
                SELECT x.id, x.api_id, x.method, x.key_id, COALESCE(k.prefix, ''), x.consumer_id
                FROM contexts x LEFT JOIN api_keys k ON k.key_id = x.key_id
                WHERE 1 = 1
                """);
            void Equal(string column, string? value)
            {
                if (value is not null)
                {
                    sql.Append($" AND x.{column} = ${column}");
                    command.Parameters.AddWithValue("$" + column, value);
                }
            }
            Equal("consumer_id", scope.ConsumerId);
            Equal("provider_id", scope.ProviderId);
            Equal("key_id", filter.KeyId);
            Equal("api_id", filter.ApiId);
            command.CommandText = sql.Append(';').ToString();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                contexts.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                    reader.GetString(5)));
            }
        }

        var page = new List<CallRow>(limit + 1);
        if (contexts.Count == 0 || filter.StartMs >= filter.EndMs)
        {
            return page;
        }
        await using var range = connection.CreateCommand();
        range.Transaction = transaction;
        // occurred_at bounds the index range; the (occurred_at, id) tie-breaks only filter.
        range.CommandText = """
            SELECT c.id, c.occurred_at, c.request_id, c.path, e.event_id, e.status_code, e.latency_ms, e.billable
            FROM calls c JOIN events e ON e.id = c.id
            WHERE c.context_id = $context AND c.occurred_at BETWEEN $low AND $high
              AND (c.occurred_at < $before_at OR c.id < $before_id)
              AND (c.occurred_at > $floor_at OR c.id > $floor_id)
              AND e.status_code BETWEEN $status_min AND $status_max
            ORDER BY c.occurred_at DESC, c.id DESC
            LIMIT $limit;
            """;
        var context = range.Parameters.AddWithValue("$context", 0L);
        var low = range.Parameters.AddWithValue("$low", filter.StartMs);
        range.Parameters.AddWithValue("$high", Math.Min(filter.EndMs - 1, before?.OccurredMs ?? long.MaxValue));
        range.Parameters.AddWithValue("$before_at", before?.OccurredMs ?? long.MaxValue);
        range.Parameters.AddWithValue("$before_id", before?.Id ?? long.MaxValue);
        var floorAt = range.Parameters.AddWithValue("$floor_at", long.MinValue);
        var floorId = range.Parameters.AddWithValue("$floor_id", long.MinValue);
        range.Parameters.AddWithValue("$status_min", filter.StatusMin);
        range.Parameters.AddWithValue("$status_max", filter.StatusMax);
        range.Parameters.AddWithValue("$limit", limit);

        foreach (var x in contexts)
        {
            context.Value = x.Id;
            await using (var reader = await range.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    page.Add(new CallRow(reader.GetInt64(0), reader.GetString(4), reader.GetInt64(1), x.ApiId, x.Method, reader.GetString(3),
                        reader.GetInt32(5), reader.GetInt64(6), reader.GetString(2), x.KeyId, x.KeyPrefix, x.ConsumerId, reader.GetInt64(7) != 0));
                }
            }
            if (page.Count >= limit)
            {
                // Keep the newest `limit`; the next contexts need only read what is newer than the last kept.
                page.Sort(NewestFirst);
                page.RemoveRange(limit, page.Count - limit);
                var floor = page[^1];
                (floorAt.Value, floorId.Value, low.Value) = (floor.OccurredMs, floor.Id, Math.Max(filter.StartMs, floor.OccurredMs));
            }
        }
        page.Sort(NewestFirst);
        return page;
    }

    private static int NewestFirst(CallRow a, CallRow b) =>
        a.OccurredMs != b.OccurredMs ? b.OccurredMs.CompareTo(a.OccurredMs) : b.Id.CompareTo(a.Id);
}
