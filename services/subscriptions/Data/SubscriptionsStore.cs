using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Billing;
using Veil.ServiceDefaults.Data;

namespace Veil.Subscriptions.Data;

/// <summary>A plan as stored. Prices are integer minor units of <see cref="Currency"/>.</summary>
public sealed record PlanRecord(
    string Id, string ApiId, string ProviderId, string Name, int RequestsPerSecond, int Burst,
    long MonthlyQuota, long PricePerCallMinor, string Currency, bool OverageAllowed, long CreatedAt,
    long BasePriceMinor = 0, long OveragePricePerCallMinor = 0)
{
    /// <summary>
    /// True when subscribing can cost money: a per-call price, a fee per cycle, or an overage price
    /// that applies (a quota is set). Paid plans are refused to accounts on credit hold.
    /// </summary>
    public bool IsPaid => PricePerCallMinor > 0 || BasePriceMinor > 0 || (MonthlyQuota > 0 && OveragePricePerCallMinor > 0);
}

/// <summary>
/// A subscription as stored. <see cref="CycleAnchor"/> anchors its monthly cycles: its creation, or
/// the anchor of the subscription it follows within a paid cycle (see <see cref="SubscriptionsStore.SubscribeAsync"/>).
/// </summary>
public sealed record SubscriptionRecord(
    string Id, string ConsumerId, string ApiId, string PlanId, string ProviderId, bool Active, long CreatedAt, long? CanceledAt, long CycleAnchor);

/// <summary>Who is asking, for the visibility rules in the queries.</summary>
public sealed record Viewer(string AccountId, bool IsAdmin);

/// <summary>Where a page of plans or subscriptions ends: the row's creation time and rowid, the lists' order keys.</summary>
public sealed record ListCursor(long CreatedAt, long RowId);

/// <summary>
/// The subscriptions SQLite store. Ownership and visibility are part of every query: a row the
/// viewer may not see is simply not found.
/// </summary>
public sealed partial class SubscriptionsStore(SqliteDatabase database, TimeProvider time)
{
    private const long Active = 1;
    private const long Canceled = 2;
    private const int SqliteConstraintUnique = 2067;

    private const string PlanColumns = "p.id, p.api_id, p.provider_id, p.name, p.requests_per_second, p.burst, p.monthly_quota, p.price_per_call_minor, p.currency, p.overage_allowed, p.created_at, p.base_price_minor, p.overage_price_per_call_minor";
    private const string SubscriptionColumns = "s.id, s.consumer_id, s.api_id, s.plan_id, s.provider_id, s.status, s.created_at, s.canceled_at, s.cycle_anchor";
    private const int SubscriptionColumnCount = 9;

    /// <summary>Stores a new plan; null when the API already has a plan of that name.</summary>
    public async Task<(PlanRecord? Plan, bool LimitReached)> CreatePlanAsync(string apiId, string providerId, string name, int requestsPerSecond, int burst,
        long monthlyQuota, long pricePerCallMinor, string currency, bool overageAllowed, long basePriceMinor, long overagePricePerCallMinor,
        int maxPlansPerApi, CancellationToken cancellationToken)
    {
        var plan = new PlanRecord(ResourceIds.New("plan"), apiId, providerId, name, requestsPerSecond, burst, monthlyQuota, pricePerCallMinor,
            currency, overageAllowed, time.GetUtcNow().ToUnixTimeMilliseconds(), basePriceMinor, overagePricePerCallMinor);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        // Counted in the same immediate transaction as the insert, so concurrent creations cannot overshoot.
        await using (var count = connection.CreateCommand())
        {
            count.Transaction = transaction;
            count.CommandText = "SELECT COUNT(*) FROM plans WHERE api_id = @api_id;";
            Bind(count, ("@api_id", apiId));
            if (Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) >= maxPlansPerApi)
            {
                return (null, true);
            }
        }
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO plans (id, api_id, provider_id, name, requests_per_second, burst, monthly_quota, price_per_call_minor, currency, overage_allowed, created_at,
                               base_price_minor, overage_price_per_call_minor)
            VALUES (@id, @api_id, @provider_id, @name, @rps, @burst, @quota, @price, @currency, @overage, @created_at, @base_price, @overage_price);
            """;
        Bind(command, ("@id", plan.Id), ("@api_id", apiId), ("@provider_id", providerId), ("@name", name), ("@rps", requestsPerSecond),
            ("@burst", burst), ("@quota", monthlyQuota), ("@price", pricePerCallMinor), ("@currency", currency),
            ("@overage", overageAllowed ? 1 : 0), ("@created_at", plan.CreatedAt), ("@base_price", basePriceMinor),
            ("@overage_price", overagePricePerCallMinor));
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == SqliteConstraintUnique)
        {
            return (null, false);
        }
        await transaction.CommitAsync(cancellationToken);
        return (plan, false);
    }

    /// <summary>The plan, or null.</summary>
    public async Task<PlanRecord?> FindPlanAsync(string planId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {PlanColumns} FROM plans p WHERE p.id = @id;";
        Bind(command, ("@id", planId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadPlan(reader, 0) : null;
    }

    /// <summary>
    /// One page of the API's plans, oldest first, after the plan at <paramref name="after"/> (its
    /// creation time and rowid, the order's keys); the extra row read tells whether more follow.
    /// </summary>
    public async Task<(IReadOnlyList<PlanRecord> Page, ListCursor? Next)> ListPlansAsync(string apiId, int pageSize, ListCursor? after, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {PlanColumns}, p.created_at, p.rowid FROM plans p
            WHERE p.api_id = @api_id AND (@after_at IS NULL OR (p.created_at, p.rowid) > (@after_at, @after_row))
            ORDER BY p.created_at, p.rowid
            LIMIT @limit;
            """;
        Bind(command, ("@api_id", apiId), ("@after_at", after?.CreatedAt), ("@after_row", after?.RowId), ("@limit", pageSize + 1));
        return await ReadPageAsync(command, pageSize, ReadPlan, cancellationToken);
    }

    /// <summary>Reads up to <paramref name="pageSize"/> rows whose last two columns are the cursor keys.</summary>
    private static async Task<(IReadOnlyList<T> Page, ListCursor? Next)> ReadPageAsync<T>(SqliteCommand command, int pageSize,
        Func<SqliteDataReader, int, T> read, CancellationToken cancellationToken)
    {
        var page = new List<T>(pageSize);
        ListCursor? last = null;
        var more = false;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (page.Count == pageSize)
            {
                more = true;
                break;
            }
            page.Add(read(reader, 0));
            last = new ListCursor(reader.GetInt64(reader.FieldCount - 2), reader.GetInt64(reader.FieldCount - 1));
        }
        return (page, more ? last : null);
    }

    /// <summary>
    /// Subscribes <paramref name="consumerId"/> to <paramref name="plan"/>; null when the consumer
    /// already has an active subscription to the plan's API. The quota follows the consumer, the API
    /// and the cycle, so the consumer's latest cancelled subscription to the API decides how:
    /// <list type="bullet">
    /// <item>cancelled during its current cycle (a cycle it paid for) and on the same plan: it is
    /// resumed — same id, cycle, counters and base fee (<c>Resumed</c> is true);</item>
    /// <item>cancelled during its current cycle, on another plan: a new subscription anchored where
    /// that one is, so usage counts both against the quota of this cycle;</item>
    /// <item>otherwise (none, or its last paid cycle is over): a new subscription anchored now.</item>
    /// </list>
    /// </summary>
    public async Task<(SubscriptionRecord Subscription, bool Resumed)?> SubscribeAsync(string consumerId, PlanRecord plan, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        SubscriptionRecord? previous = null;
        await using (var latest = connection.CreateCommand())
        {
            latest.Transaction = transaction;
            latest.CommandText = $"""
                SELECT {SubscriptionColumns} FROM subscriptions s
                WHERE s.consumer_id = @consumer_id AND s.api_id = @api_id AND s.status = 2
                ORDER BY s.canceled_at DESC LIMIT 1;
                """;
            Bind(latest, ("@consumer_id", consumerId), ("@api_id", plan.ApiId));
            await using var reader = await latest.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                previous = ReadSubscription(reader, 0);
            }
        }
        // The cycle containing now was paid for when it began before the cancellation.
        var inPaidCycle = previous is { CanceledAt: { } canceledAt } && BillingCycle.Containing(previous.CycleAnchor, now).StartMs < canceledAt;
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        SubscriptionRecord subscription;
        var resumed = inPaidCycle && previous!.PlanId == plan.Id;
        if (resumed)
        {
            subscription = previous! with { Active = true, CanceledAt = null };
            command.CommandText = "UPDATE subscriptions SET status = @active, canceled_at = NULL WHERE id = @id AND status = @canceled;";
            Bind(command, ("@id", subscription.Id), ("@active", Active), ("@canceled", Canceled));
        }
        else
        {
            subscription = new SubscriptionRecord(ResourceIds.New("sub"), consumerId, plan.ApiId, plan.Id, plan.ProviderId, true, now, null,
                inPaidCycle ? previous!.CycleAnchor : now);
            command.CommandText = """
                INSERT INTO subscriptions (id, consumer_id, api_id, plan_id, provider_id, status, created_at, canceled_at, cycle_anchor)
                VALUES (@id, @consumer_id, @api_id, @plan_id, @provider_id, 1, @created_at, NULL, @cycle_anchor);
                """;
            Bind(command, ("@id", subscription.Id), ("@consumer_id", consumerId), ("@api_id", plan.ApiId), ("@plan_id", plan.Id),
                ("@provider_id", plan.ProviderId), ("@created_at", subscription.CreatedAt), ("@cycle_anchor", subscription.CycleAnchor));
        }
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == SqliteConstraintUnique)
        {
            return null;
        }
        await transaction.CommitAsync(cancellationToken);
        return (subscription, resumed);
    }

    /// <summary>
    /// One page of the subscriptions the viewer may see, newest first, before the one at
    /// <paramref name="before"/>: admins all, everyone else those they hold as consumer or sell as
    /// provider. Optionally only those to one API.
    /// </summary>
    public async Task<(IReadOnlyList<SubscriptionRecord> Page, ListCursor? Next)> ListSubscriptionsAsync(Viewer viewer, string? apiId, int pageSize,
        ListCursor? before, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        const string Page = """
                 AND (@before_at IS NULL OR (s.created_at, s.rowid) < (@before_at, @before_row))
               ORDER BY s.created_at DESC, s.rowid DESC
               LIMIT @limit;
               """;
        // Two indexed branches (consumer, provider) rather than one OR the planner cannot index.
        command.CommandText = viewer.IsAdmin
            ? $"""
               SELECT {SubscriptionColumns}, s.created_at, s.rowid FROM subscriptions s
               WHERE (@api_id IS NULL OR s.api_id = @api_id)
               {Page}
               """
            : $"""
               SELECT {SubscriptionColumns}, s.created_at, s.rowid FROM subscriptions s
               WHERE s.rowid IN (
                 SELECT rowid FROM subscriptions WHERE consumer_id = @viewer
                 UNION
                 SELECT rowid FROM subscriptions WHERE provider_id = @viewer)
                 AND (@api_id IS NULL OR s.api_id = @api_id)
               {Page}
               """;
        Bind(command, ("@viewer", viewer.AccountId), ("@api_id", apiId), ("@before_at", before?.CreatedAt), ("@before_row", before?.RowId),
            ("@limit", pageSize + 1));
        return await ReadPageAsync(command, pageSize, ReadSubscription, cancellationToken);
    }

    /// <summary>The subscription when the viewer is its consumer, the API's provider or an admin; else null.</summary>
    public async Task<SubscriptionRecord?> FindSubscriptionAsync(string subscriptionId, Viewer viewer, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await FindSubscriptionAsync(connection, null, subscriptionId, viewer, cancellationToken);
    }

    /// <summary>
    /// Cancels the subscription when the viewer is its consumer or an admin (idempotent: an already
    /// cancelled one is returned unchanged). Null when the viewer may not see it; the subscription
    /// with <c>changed = false</c> when the viewer may see but not cancel it (its provider).
    /// </summary>
    public async Task<(SubscriptionRecord Subscription, bool MayCancel, bool Changed)?> CancelAsync(string subscriptionId, Viewer viewer, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var subscription = await FindSubscriptionAsync(connection, transaction, subscriptionId, viewer, cancellationToken);
        if (subscription is null)
        {
            return null;
        }
        var mayCancel = viewer.IsAdmin || subscription.ConsumerId == viewer.AccountId;
        if (!mayCancel || !subscription.Active)
        {
            return (subscription, mayCancel, false);
        }
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE subscriptions SET status = @canceled, canceled_at = @now WHERE id = @id AND status = @active;";
        Bind(command, ("@id", subscription.Id), ("@now", now), ("@canceled", Canceled), ("@active", Active));
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (subscription with { Active = false, CanceledAt = now }, true, true);
    }

    /// <summary>The consumer's active subscription to the API and its plan, or null. One read of the partial unique index.</summary>
    public async Task<(SubscriptionRecord Subscription, PlanRecord Plan)?> FindEntitlementAsync(string consumerId, string apiId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {SubscriptionColumns}, {PlanColumns}
            FROM subscriptions s JOIN plans p ON p.id = s.plan_id
            WHERE s.consumer_id = @consumer_id AND s.api_id = @api_id AND s.status = 1;
            """;
        Bind(command, ("@consumer_id", consumerId), ("@api_id", apiId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return (ReadSubscription(reader, 0), ReadPlan(reader, SubscriptionColumnCount));
    }

    /// <summary>
    /// Billing's view, in id order after <paramref name="afterId"/> (empty for the first page): every
    /// active subscription and those cancelled after <paramref name="canceledAfterMs"/> (all when
    /// null), each with its plan. Paged by the primary key, so a page costs one index range scan.
    /// </summary>
    public async Task<IReadOnlyList<(SubscriptionRecord Subscription, PlanRecord Plan)>> ListForBillingAsync(string afterId, long? canceledAfterMs, int limit,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {SubscriptionColumns}, {PlanColumns}
            FROM subscriptions s JOIN plans p ON p.id = s.plan_id
            WHERE s.id > @after AND (s.status = 1 OR @canceled_after IS NULL OR s.canceled_at > @canceled_after)
            ORDER BY s.id
            LIMIT @limit;
            """;
        Bind(command, ("@after", afterId), ("@canceled_after", canceledAfterMs), ("@limit", limit));
        var rows = new List<(SubscriptionRecord, PlanRecord)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((ReadSubscription(reader, 0), ReadPlan(reader, SubscriptionColumnCount)));
        }
        return rows;
    }

    private static async Task<SubscriptionRecord?> FindSubscriptionAsync(SqliteConnection connection, SqliteTransaction? transaction, string subscriptionId, Viewer viewer, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"""
            SELECT {SubscriptionColumns} FROM subscriptions s
            WHERE s.id = @id AND (@admin = 1 OR s.consumer_id = @viewer OR s.provider_id = @viewer);
            """;
        Bind(command, ("@id", subscriptionId), ("@admin", viewer.IsAdmin ? 1 : 0), ("@viewer", viewer.AccountId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadSubscription(reader, 0) : null;
    }

    private static PlanRecord ReadPlan(SqliteDataReader reader, int at) => new(
        Id: reader.GetString(at),
        ApiId: reader.GetString(at + 1),
        ProviderId: reader.GetString(at + 2),
        Name: reader.GetString(at + 3),
        RequestsPerSecond: reader.GetInt32(at + 4),
        Burst: reader.GetInt32(at + 5),
        MonthlyQuota: reader.GetInt64(at + 6),
        PricePerCallMinor: reader.GetInt64(at + 7),
        Currency: reader.GetString(at + 8),
        OverageAllowed: reader.GetInt64(at + 9) == 1,
        CreatedAt: reader.GetInt64(at + 10),
        BasePriceMinor: reader.GetInt64(at + 11),
        OveragePricePerCallMinor: reader.GetInt64(at + 12));

    private static SubscriptionRecord ReadSubscription(SqliteDataReader reader, int at) => new(
        Id: reader.GetString(at),
        ConsumerId: reader.GetString(at + 1),
        ApiId: reader.GetString(at + 2),
        PlanId: reader.GetString(at + 3),
        ProviderId: reader.GetString(at + 4),
        Active: reader.GetInt64(at + 5) == Active,
        CreatedAt: reader.GetInt64(at + 6),
        CanceledAt: reader.IsDBNull(at + 7) ? null : reader.GetInt64(at + 7),
        CycleAnchor: reader.GetInt64(at + 8));

    private static void Bind(SqliteCommand command, params (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }
}
