using Microsoft.Data.Sqlite;

namespace Veil.Usage.Data;

/// <summary>One retention step: rows deleted, the id the next step starts after, and whether the table is done.</summary>
public readonly record struct PruneStep(int Deleted, long LastId, bool Done);

public sealed partial class UsageStore
{
    /// <summary>
    /// Deletes, in one short immediate transaction, the raw events among the next
    /// <paramref name="limit"/> ids after <paramref name="afterId"/> that occurred before
    /// <paramref name="cutoffMs"/>, walking ids only while they were received before it too, and
    /// only below the rollup watermark. Ids grow with <c>received_at</c> (inserts are serialised),
    /// so the walk stops at the first younger row instead of scanning the table, and needs no
    /// index beyond the primary key.
    /// </summary>
    /// <remarks>
    /// Strictly below the watermark: what the roller has not folded in yet is never deleted, and
    /// the newest row always survives (the watermark never passes it). That matters because a
    /// new row gets MAX(id) + 1: emptying the table would restart ids below the watermark and
    /// the roller would skip every later event.
    /// </remarks>
    public Task<PruneStep> PruneEventsAsync(long afterId, long cutoffMs, int limit, CancellationToken cancellationToken) =>
        PruneAsync("""
            SELECT id, received_at FROM events
            WHERE id > $after AND id < (SELECT last_event_id FROM rollup_watermark WHERE id = 1)
            ORDER BY id LIMIT $limit;
            """,
            // occurred_at too: an event shipped late was received after it occurred, and both ages
            // must pass the retention (the dedup window and billing's recounts are by occurred_at).
            "DELETE FROM events WHERE id > $after AND id <= $end AND occurred_at < $cutoff;",
            afterId, cutoffMs, limit, cancellationToken);

    /// <summary>
    /// Deletes, in one short immediate transaction, the call-log rows (request id, path) among the
    /// next <paramref name="limit"/> ids after <paramref name="afterId"/> of calls that occurred
    /// before <paramref name="cutoffMs"/>, walking ids while their events were received before it
    /// (as <see cref="PruneEventsAsync"/>). The events stay: rollups and billing need them, not
    /// these rows. A row whose event is gone (retention shortened by hand) counts as old.
    /// </summary>
    public Task<PruneStep> PruneCallsAsync(long afterId, long cutoffMs, int limit, CancellationToken cancellationToken) =>
        PruneAsync("""
            SELECT c.id, COALESCE(e.received_at, 0) FROM calls c LEFT JOIN events e ON e.id = c.id
            WHERE c.id > $after ORDER BY c.id LIMIT $limit;
            """,
            "DELETE FROM calls WHERE id > $after AND id <= $end AND occurred_at < $cutoff;",
            afterId, cutoffMs, limit, cancellationToken);

    /// <summary>
    /// Deletes, in one short immediate transaction, the quarantined events among the next
    /// <paramref name="limit"/> ids after <paramref name="afterId"/> received before <paramref name="cutoffMs"/>.
    /// </summary>
    public Task<PruneStep> PruneQuarantineAsync(long afterId, long cutoffMs, int limit, CancellationToken cancellationToken) =>
        PruneAsync(
            "SELECT id, received_at FROM quarantine WHERE id > $after ORDER BY id LIMIT $limit;",
            "DELETE FROM quarantine WHERE id > $after AND id <= $end;",
            afterId, cutoffMs, limit, cancellationToken);

    private Task<PruneStep> PruneAsync(string scanSql, string deleteSql, long afterId, long cutoffMs, int limit, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, transaction) =>
        {
            // The step's range ends before the first row received at or after the cutoff: rows are
            // in id order, which is received order, so everything after it is younger still.
            var end = afterId;
            var scanned = 0;
            var reachedCutoff = false;
            await using (var scan = Command(connection, transaction, scanSql))
            {
                scan.Parameters.AddWithValue("$after", afterId);
                scan.Parameters.AddWithValue("$limit", limit);
                await using var reader = await scan.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    scanned++;
                    if (reader.GetInt64(1) >= cutoffMs)
                    {
                        reachedCutoff = true;
                        break;
                    }
                    end = reader.GetInt64(0);
                }
            }
            var done = reachedCutoff || scanned < limit;
            if (end == afterId)
            {
                return new PruneStep(0, afterId, done);
            }
            await using var delete = Command(connection, transaction, deleteSql);
            delete.Parameters.AddWithValue("$after", afterId);
            delete.Parameters.AddWithValue("$end", end);
            delete.Parameters.AddWithValue("$cutoff", cutoffMs);
            var deleted = await delete.ExecuteNonQueryAsync(cancellationToken);
            return new PruneStep(deleted, end, done);
        }, cancellationToken);

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }
}
