using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Data;
using Veil.Usage.V1;

namespace Veil.Usage.Data;

public sealed partial class UsageStore
{
    /// <summary>
    /// What one key's calls on one route have in common: a row of <c>contexts</c>. Events refer to
    /// it by id instead of repeating its fifteen columns; see migration 0002. <see cref="KeyPrefix"/>
    /// is not a column: it is a function of the key, kept in <c>api_keys</c> (migration 0005) when
    /// the context is resolved; being part of equality, a context first seen without it (an older
    /// edge) is resolved again, and its key's prefix stored, once a newer edge sends it.
    /// </summary>
    private readonly record struct EventContext(
        string SubscriptionId, string KeyId, string ApiId, string Route, string Method, string EdgeId, long ConfigVersion,
        string ConsumerId, string ProviderId, string PlanId, long MonthlyQuota, bool OverageAllowed, long PricePerCallMinor,
        string Currency, long SubscriptionStartMs, string KeyPrefix)
    {
        public EventContext(UsageEvent e, long subscriptionStartMs)
            : this(e.SubscriptionId, e.KeyId, e.ApiId, e.Route, e.Method, e.EdgeId, e.ConfigVersion, e.ConsumerId, e.ProviderId,
                e.PlanId, e.MonthlyQuota, e.OverageAllowed, e.PricePerCallMinor, e.Currency, subscriptionStartMs, e.KeyPrefix)
        {
        }

        // The fields that tell a busy edge's contexts apart; equality still compares all of them.
        // Hashing all fifteen was ~2% of the service's CPU under load.
        public override int GetHashCode() => HashCode.Combine(SubscriptionId, Route, Method, KeyId);
    }

    /// <summary>Finds or inserts a context row; used on a cache miss, inside the ingest transaction.</summary>
    private sealed class ContextStatements(SqliteConnection connection) : IDisposable
    {
        private FastStatement? _find;
        private FastStatement? _insert;
        private FastStatement? _keyPrefix;

        public long GetOrInsert(in EventContext context)
        {
            if (context.KeyPrefix.Length > 0)
            {
                _keyPrefix ??= new FastStatement(connection, """
                    INSERT INTO api_keys (key_id, prefix) VALUES (?1, ?2)
                    ON CONFLICT (key_id) DO UPDATE SET prefix = excluded.prefix WHERE prefix <> excluded.prefix;
                    """);
                _keyPrefix.Bind(1, context.KeyId).Bind(2, context.KeyPrefix).Execute();
            }
            _find ??= new FastStatement(connection, """
                SELECT id FROM contexts
                WHERE subscription_id = ?1 AND key_id = ?2 AND api_id = ?3 AND route = ?4 AND method = ?5 AND edge_id = ?6
                  AND config_version = ?7 AND consumer_id = ?8 AND provider_id = ?9 AND plan_id = ?10 AND monthly_quota = ?11
                  AND overage_allowed = ?12 AND price_per_call_minor = ?13 AND currency = ?14 AND subscription_start = ?15;
                """);
            if (Bind(_find, context).ExecuteScalar() is { } id)
            {
                return id;
            }
            _insert ??= new FastStatement(connection, """
                INSERT INTO contexts (subscription_id, key_id, api_id, route, method, edge_id, config_version, consumer_id,
                                      provider_id, plan_id, monthly_quota, overage_allowed, price_per_call_minor, currency,
                                      subscription_start)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                RETURNING id;
                """);
            return Bind(_insert, context).ExecuteScalar()!.Value;
        }

        public void Dispose()
        {
            _find?.Dispose();
            _insert?.Dispose();
            _keyPrefix?.Dispose();
        }

        private static FastStatement Bind(FastStatement statement, in EventContext c) =>
            statement.Bind(1, c.SubscriptionId).Bind(2, c.KeyId).Bind(3, c.ApiId).Bind(4, c.Route).Bind(5, c.Method)
                .Bind(6, c.EdgeId).Bind(7, c.ConfigVersion).Bind(8, c.ConsumerId).Bind(9, c.ProviderId).Bind(10, c.PlanId)
                .Bind(11, c.MonthlyQuota).Bind(12, c.OverageAllowed).Bind(13, c.PricePerCallMinor).Bind(14, c.Currency)
                .Bind(15, c.SubscriptionStartMs);
    }
}
