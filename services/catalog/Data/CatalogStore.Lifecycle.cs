using Microsoft.Data.Sqlite;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Data;

/// <summary>
/// The result of a lifecycle change: the API as stored and, when anything changed, the gateway
/// config after it (a new revision, no new config version).
/// </summary>
public sealed record LifecycleChange(ApiRecord Api, GatewayConfig? Gateway);

/// <summary>A lifecycle catalog has not yet had acknowledged by subscriptions (SetApiLifecycle).</summary>
public sealed record UnsyncedLifecycle(string ApiId, ApiLifecycle Lifecycle, long Revision);

public sealed partial class CatalogStore
{
    /// <summary>
    /// Applies <paramref name="change"/> to the lifecycle of the API named by id or slug (it may
    /// throw to refuse the transition, which stores nothing) and, when the result differs, stores it,
    /// bumps the gateway revision and records that revision as the lifecycle's, in one immediate
    /// transaction. Null when the API does not exist or <paramref name="ownerId"/> (null for admins)
    /// does not own it. The config version does not move.
    /// </summary>
    public async Task<LifecycleChange?> ChangeLifecycleAsync(string idOrSlug, string? ownerId, Func<ApiRecord, long, ApiLifecycle> change,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var current = await FindAsync(connection, transaction, idOrSlug, ownerId, withDocument: false, cancellationToken);
        if (current is null)
        {
            return null;
        }
        var next = change(current, time.GetUtcNow().ToUnixTimeMilliseconds());
        if (next == current.Life)
        {
            return new LifecycleChange(current, null);
        }
        var revision = await ScalarAsync(connection, transaction,
            "UPDATE gateway_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision;", cancellationToken);
        await ExecuteAsync(connection, transaction, """
            UPDATE apis SET suspended_at = @suspended_at, deleted_at = @deleted_at, deprecate_time = @deprecate_time,
                            sunset_time = @sunset_time, deprecation_link = @link, lifecycle_revision = @revision
            WHERE id = @id;
            """, cancellationToken,
            ("@id", current.Id), ("@suspended_at", next.SuspendedAt), ("@deleted_at", next.DeletedAt), ("@deprecate_time", next.DeprecateTime),
            ("@sunset_time", next.SunsetTime), ("@link", next.DeprecationLink), ("@revision", revision));
        var gateway = await ReadGatewayConfigAsync(connection, transaction, revision, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new LifecycleChange(current with { Lifecycle = next }, gateway);
    }

    /// <summary>Lifecycles changed since subscriptions last acknowledged them, oldest change first.</summary>
    public async Task<IReadOnlyList<UnsyncedLifecycle>> ListUnsyncedLifecyclesAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT id, suspended_at, deleted_at, deprecate_time, sunset_time, deprecation_link, lifecycle_revision
            FROM apis WHERE lifecycle_revision > lifecycle_synced
            ORDER BY lifecycle_revision LIMIT @limit;
            """;
        Bind(command, ("@limit", limit));
        var list = new List<UnsyncedLifecycle>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(new UnsyncedLifecycle(reader.GetString(0), ReadLifecycle(reader, 1), reader.GetInt64(6)));
        }
        return list;
    }

    /// <summary>Records that subscriptions has the API's lifecycle as of <paramref name="revision"/>.</summary>
    public async Task MarkLifecycleSyncedAsync(string apiId, long revision, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await ExecuteAsync(connection, transaction,
            "UPDATE apis SET lifecycle_synced = MAX(lifecycle_synced, @revision) WHERE id = @id;", cancellationToken,
            ("@id", apiId), ("@revision", revision));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The five lifecycle columns starting at <paramref name="at"/>.</summary>
    private static ApiLifecycle ReadLifecycle(SqliteDataReader reader, int at)
    {
        var lifecycle = new ApiLifecycle(reader.GetInt64(at), reader.GetInt64(at + 1), reader.GetInt64(at + 2), reader.GetInt64(at + 3), reader.GetString(at + 4));
        return lifecycle == ApiLifecycle.Active ? ApiLifecycle.Active : lifecycle;
    }

    /// <summary>What the edge needs of the lifecycle: the state (RETIRING stays RETIRING: the edge judges the sunset by its own clock), the times and link.</summary>
    private static void SetLifecycle(GatewayRoute route, ApiLifecycle lifecycle)
    {
        if (ReferenceEquals(lifecycle, ApiLifecycle.Active))
        {
            // Unset (UNSPECIFIED) is active: an active API's route is what it was before lifecycles.
            return;
        }
        route.State = lifecycle.PushedState;
        if (lifecycle.DeprecateTime > 0)
        {
            route.DeprecateTime = UnixMs.ToTimestamp(lifecycle.DeprecateTime);
        }
        if (lifecycle.SunsetTime > 0)
        {
            route.SunsetTime = UnixMs.ToTimestamp(lifecycle.SunsetTime);
        }
        route.DeprecationLink = lifecycle.DeprecationLink;
    }
}
