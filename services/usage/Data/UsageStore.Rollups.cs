using Veil.ServiceDefaults.Data;

namespace Veil.Usage.Data;

public sealed partial class UsageStore
{
    /// <summary>
    /// Folds up to <paramref name="limit"/> events after the watermark into the minute, hour and
    /// day rollups and moves the watermark past them, in one transaction: each event is rolled up
    /// exactly once, a crash redoes the whole step, and the rollups always equal the raw events
    /// up to the watermark. The grouping runs inside SQLite over a range of event ids. Returns
    /// how many events were rolled up and when the first of them was received.
    /// </summary>
    public Task<(int Count, long? FirstReceivedAtMs)> RollUpAsync(int limit, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, transaction) =>
        {
            long after, upto;
            long? firstReceived;
            using (var temp = new FastStatement(connection, """
                CREATE TEMP TABLE IF NOT EXISTS roll_step (
                  bucket_start INTEGER, subscription_id TEXT, key_id TEXT, api_id TEXT, consumer_id TEXT, provider_id TEXT,
                  total_calls INTEGER, billable_calls INTEGER, bytes_in INTEGER, bytes_out INTEGER);
                """))
            {
                temp.Execute();
            }
            await using (var read = connection.CreateCommand())
            {
                read.Transaction = transaction;
                // Ids only grow (serialised inserts) and are dense above the watermark: retention deletes
                // only rows below it, never the newest (RetentionWorker).
                read.CommandText = """
                    SELECT w.last_event_id,
                           MIN(COALESCE((SELECT MAX(id) FROM events), 0), w.last_event_id + $limit),
                           (SELECT received_at FROM events WHERE id > w.last_event_id ORDER BY id LIMIT 1)
                    FROM rollup_watermark w WHERE w.id = 1;
                    """;
                read.Parameters.AddWithValue("$limit", limit);
                await using var reader = await read.ExecuteReaderAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                (after, upto, firstReceived) = (reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetInt64(2));
            }
            if (upto <= after)
            {
                return (0, null);
            }

            // One pass over the raw events (the minute groups, into a temporary table), then hours
            // and days from those groups: the expensive sort of raw rows happens once, not thrice.
            using (var clear = new FastStatement(connection, "DELETE FROM temp.roll_step;"))
            using (var minutes = new FastStatement(connection, """
                INSERT INTO temp.roll_step
                SELECT e.minute, c.subscription_id, c.key_id, c.api_id, c.consumer_id, c.provider_id,
                       SUM(e.calls), SUM(e.billable), SUM(e.bytes_in), SUM(e.bytes_out)
                FROM (SELECT occurred_at - occurred_at % 60000 AS minute, context_id, COUNT(*) AS calls,
                             SUM(billable) AS billable, SUM(bytes_in) AS bytes_in, SUM(bytes_out) AS bytes_out
                      FROM events WHERE id > ?1 AND id <= ?2
                      GROUP BY 1, 2) e
                JOIN contexts c ON c.id = e.context_id
                GROUP BY 1, 2, 3, 4, 5, 6;
                """))
            using (var roll = new FastStatement(connection, """
                INSERT INTO rollups (granularity, bucket_start, subscription_id, key_id, api_id, consumer_id, provider_id,
                                     total_calls, billable_calls, bytes_in, bytes_out)
                SELECT ?1, bucket_start - bucket_start % ?2, subscription_id, key_id, api_id, consumer_id, provider_id,
                       SUM(total_calls), SUM(billable_calls), SUM(bytes_in), SUM(bytes_out)
                FROM temp.roll_step
                GROUP BY 2, 3, 4, 5, 6, 7
                ON CONFLICT DO UPDATE SET
                  total_calls = total_calls + excluded.total_calls,
                  billable_calls = billable_calls + excluded.billable_calls,
                  bytes_in = bytes_in + excluded.bytes_in,
                  bytes_out = bytes_out + excluded.bytes_out;
                """))
            {
                clear.Execute();
                minutes.Bind(1, after).Bind(2, upto).Execute();
                foreach (var (granularity, unit) in Units)
                {
                    roll.Bind(1, (long)granularity).Bind(2, unit).Execute();
                }
                clear.Execute();
            }
            await using (var move = connection.CreateCommand())
            {
                move.Transaction = transaction;
                move.CommandText = "UPDATE rollup_watermark SET last_event_id = $upto WHERE id = 1;";
                move.Parameters.AddWithValue("$upto", upto);
                await move.ExecuteNonQueryAsync(cancellationToken);
            }
            return ((int)(upto - after), firstReceived);
        }, cancellationToken);

    /// <summary>
    /// How far the rollups lag behind the raw events: the number of events after the watermark
    /// and when the oldest of them was received (null when none).
    /// </summary>
    public async Task<(long Pending, long? OldestReceivedAtMs)> RollupLagAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT COALESCE(MAX(id), 0) FROM events) - w.last_event_id,
                   (SELECT received_at FROM events WHERE id > w.last_event_id ORDER BY id LIMIT 1)
            FROM rollup_watermark w WHERE w.id = 1;
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt64(1));
    }
}
