using Microsoft.Data.Sqlite;

namespace Veil.Subscriptions.Data;

/// <summary>An API's lifecycle as catalog pushed it (times unix ms, 0 for unset).</summary>
public sealed record ApiLifecycleRecord(string ApiId, int State, long DeprecateTime, long SunsetTime, string DeprecationLink, long Revision)
{
    public const int Active = 1;
    public const int Suspended = 2;
    public const int Deprecated = 3;
    public const int Retiring = 4;
    public const int Retired = 5;

    /// <summary>Whether a new subscription is refused: suspended, deleted.</summary>
    public bool RefusesSubscriptions => State is Suspended or Retiring or Retired;
}

public sealed partial class SubscriptionsStore
{
    private const string LifecycleColumns = "api_id, state, deprecate_time, sunset_time, deprecation_link, revision";

    /// <summary>
    /// Stores <paramref name="lifecycle"/> unless a revision at least as high is stored (pushes may
    /// repeat or cross). A new sunset or a change back from RETIRING re-arms the sunset
    /// cancellation. True when stored.
    /// </summary>
    public async Task<bool> SetApiLifecycleAsync(ApiLifecycleRecord lifecycle, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO api_lifecycles (api_id, state, deprecate_time, sunset_time, deprecation_link, revision, updated_at)
            VALUES (@api_id, @state, @deprecate_time, @sunset_time, @link, @revision, @now)
            ON CONFLICT (api_id) DO UPDATE SET
              state = excluded.state, deprecate_time = excluded.deprecate_time, sunset_time = excluded.sunset_time,
              deprecation_link = excluded.deprecation_link, revision = excluded.revision, updated_at = excluded.updated_at,
              sunset_done = CASE WHEN excluded.state = 4 AND api_lifecycles.state = 4 AND excluded.sunset_time = api_lifecycles.sunset_time
                                 THEN api_lifecycles.sunset_done ELSE 0 END
            WHERE excluded.revision > api_lifecycles.revision;
            """;
        Bind(command, ("@api_id", lifecycle.ApiId), ("@state", lifecycle.State), ("@deprecate_time", lifecycle.DeprecateTime),
            ("@sunset_time", lifecycle.SunsetTime), ("@link", lifecycle.DeprecationLink), ("@revision", lifecycle.Revision),
            ("@now", time.GetUtcNow().ToUnixTimeMilliseconds()));
        var stored = await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        await transaction.CommitAsync(cancellationToken);
        return stored;
    }

    /// <summary>The API's lifecycle, or null when catalog never pushed one (an active API).</summary>
    public async Task<ApiLifecycleRecord?> FindApiLifecycleAsync(string apiId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {LifecycleColumns} FROM api_lifecycles WHERE api_id = @api_id;";
        Bind(command, ("@api_id", apiId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadLifecycle(reader) : null;
    }

    /// <summary>The earliest sunset of a retiring API whose subscriptions are not cancelled yet (unix ms), or null.</summary>
    public async Task<long?> NextSunsetAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT MIN(sunset_time) FROM api_lifecycles WHERE state = 4 AND sunset_done = 0;";
        return await command.ExecuteScalarAsync(cancellationToken) is long next ? next : null;
    }

    /// <summary>
    /// For every retiring API whose sunset has come (by this service's clock) and is not done:
    /// cancels its active subscriptions with <c>canceled_at</c> = the sunset (never before a
    /// subscription's start) and marks it done, one API per immediate transaction. Idempotent: a
    /// repeat (or a restart half way) finds nothing more to cancel. Returns what it cancelled.
    /// </summary>
    public async Task<IReadOnlyList<(ApiLifecycleRecord Api, IReadOnlyList<SubscriptionRecord> Canceled)>> CancelAtSunsetAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var due = new List<ApiLifecycleRecord>();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT {LifecycleColumns} FROM api_lifecycles WHERE state = 4 AND sunset_done = 0 AND sunset_time <= @now ORDER BY sunset_time;";
            Bind(command, ("@now", now));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                due.Add(ReadLifecycle(reader));
            }
        }
        var results = new List<(ApiLifecycleRecord, IReadOnlyList<SubscriptionRecord>)>();
        foreach (var api in due)
        {
            await using var transaction = connection.BeginTransaction();
            var canceled = new List<SubscriptionRecord>();
            await using (var cancel = connection.CreateCommand())
            {
                cancel.Transaction = transaction;
                // Only if still due: a push that moved the sunset or revived the API since the read wins.
                cancel.CommandText = """
                    UPDATE subscriptions SET status = @canceled, canceled_at = MAX(created_at, @sunset)
                    WHERE api_id = @api_id AND status = @active
                      AND EXISTS (SELECT 1 FROM api_lifecycles l WHERE l.api_id = @api_id AND l.state = 4 AND l.sunset_done = 0 AND l.sunset_time = @sunset)
                    RETURNING id, consumer_id, api_id, plan_id, provider_id, status, created_at, canceled_at, cycle_anchor,
                              plan_version, (SELECT version FROM plans WHERE id = subscriptions.plan_id);
                    """;
                Bind(cancel, ("@api_id", api.ApiId), ("@sunset", api.SunsetTime), ("@canceled", Canceled), ("@active", Active));
                await using var reader = await cancel.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    canceled.Add(ReadSubscription(reader, 0));
                }
            }
            await using (var done = connection.CreateCommand())
            {
                done.Transaction = transaction;
                done.CommandText = "UPDATE api_lifecycles SET sunset_done = 1 WHERE api_id = @api_id AND state = 4 AND sunset_time = @sunset;";
                Bind(done, ("@api_id", api.ApiId), ("@sunset", api.SunsetTime));
                await done.ExecuteNonQueryAsync(cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
            results.Add((api, canceled));
        }
        return results;
    }

    /// <summary>Deprecated or deleted APIs whose subscribers have not been notified of their latest lifecycle yet.</summary>
    public async Task<IReadOnlyList<ApiLifecycleRecord>> ListUnnotifiedLifecyclesAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {LifecycleColumns} FROM api_lifecycles
            WHERE state IN (3, 4) AND notified_revision < revision
            ORDER BY revision LIMIT @limit;
            """;
        Bind(command, ("@limit", limit));
        var list = new List<ApiLifecycleRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(ReadLifecycle(reader));
        }
        return list;
    }

    /// <summary>One page of the API's active subscriptions in id order, after <paramref name="afterId"/> ("" for the first).</summary>
    public async Task<IReadOnlyList<SubscriptionRecord>> ListActiveSubscriptionsOfApiAsync(string apiId, string afterId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {SubscriptionColumns} FROM subscriptions s
            WHERE s.api_id = @api_id AND s.status = 1 AND s.id > @after
            ORDER BY s.id LIMIT @limit;
            """;
        Bind(command, ("@api_id", apiId), ("@after", afterId), ("@limit", limit));
        var list = new List<SubscriptionRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(ReadSubscription(reader, 0));
        }
        return list;
    }

    /// <summary>Records that the subscribers were notified of the API's lifecycle as of <paramref name="revision"/>.</summary>
    public async Task MarkLifecycleNotifiedAsync(string apiId, long revision, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE api_lifecycles SET notified_revision = MAX(notified_revision, @revision) WHERE api_id = @api_id;";
        Bind(command, ("@api_id", apiId), ("@revision", revision));
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    private static ApiLifecycleRecord ReadLifecycle(SqliteDataReader reader) => new(
        reader.GetString(0), reader.GetInt32(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetString(4), reader.GetInt64(5));
}
