using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Billing;
using Veil.ServiceDefaults.Data;

namespace Veil.Subscriptions.Data;

/// <summary>A plan as stored. Prices are integer minor units of <see cref="Currency"/>.</summary>
public sealed record PlanRecord(
    string Id, string ApiId, string ProviderId, string Name, int RequestsPerSecond, int Burst,
    long MonthlyQuota, long PricePerCallMinor, string Currency, bool OverageAllowed, long CreatedAt,
    long BasePriceMinor = 0, long OveragePricePerCallMinor = 0, long Version = 1, PlanStates State = PlanStates.Active, long UpdatedAt = 0,
    long? DeletedAt = null)
{
    /// <summary>
    /// True when subscribing can cost money: a per-call price, a fee per cycle, or an overage price
    /// that applies (a quota is set). Paid plans are refused to accounts on credit hold.
    /// </summary>
    public bool IsPaid => PricePerCallMinor > 0 || BasePriceMinor > 0 || (MonthlyQuota > 0 && OveragePricePerCallMinor > 0);

    /// <summary>
    /// Identifies the current version and state (<c>v3-active</c>, <c>v3-archived</c>, <c>v3-deleted</c>):
    /// every change to the plan changes it.
    /// </summary>
    public string Etag => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"v{Version}-{(DeletedAt is not null ? "deleted" : State == PlanStates.Archived ? "archived" : "active")}");

    /// <summary>
    /// True when <paramref name="given"/> (an etag, or an If-Match header value: a list of quoted or
    /// weak etags, or <c>*</c>) names the current <see cref="Etag"/>.
    /// </summary>
    public bool MatchesEtag(string given) =>
        given.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Any(tag =>
        {
            if (tag == "*")
            {
                return true;
            }
            tag = tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag;
            tag = tag.Length >= 2 && tag[0] == '"' && tag[^1] == '"' ? tag[1..^1] : tag;
            return string.Equals(tag, Etag, StringComparison.Ordinal);
        });

    /// <summary>True when the terms (what a subscriber gets and pays) and name equal <paramref name="other"/>'s.</summary>
    public bool SameTerms(PlanRecord other) =>
        Name == other.Name && RequestsPerSecond == other.RequestsPerSecond && Burst == other.Burst && MonthlyQuota == other.MonthlyQuota &&
        PricePerCallMinor == other.PricePerCallMinor && Currency == other.Currency && OverageAllowed == other.OverageAllowed &&
        BasePriceMinor == other.BasePriceMinor && OveragePricePerCallMinor == other.OveragePricePerCallMinor;
}

/// <summary>A plan's stored state (the <c>PlanState</c> values); a deleted plan keeps its state and has <see cref="PlanRecord.DeletedAt"/>.</summary>
public enum PlanStates
{
    Active = 1,
    Archived = 2,
}

/// <summary>
/// A subscription as stored. <see cref="CycleAnchor"/> anchors its monthly cycles: its creation, or
/// the anchor of the subscription it follows within a paid cycle (see <see cref="SubscriptionsStore.SubscribeAsync"/>).
/// <see cref="StartVersion"/> is the plan version it started on; <see cref="PlanLatestVersion"/> the
/// plan's current one; <see cref="CycleVersion"/>, once resolved, the version of its current cycle.
/// </summary>
public sealed record SubscriptionRecord(
    string Id, string ConsumerId, string ApiId, string PlanId, string ProviderId, bool Active, long CreatedAt, long? CanceledAt, long CycleAnchor,
    long StartVersion = 1, long PlanLatestVersion = 1, long? CycleVersion = null);

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

    private const string PlanColumns = "p.id, p.api_id, p.provider_id, p.name, p.requests_per_second, p.burst, p.monthly_quota, p.price_per_call_minor, p.currency, p.overage_allowed, p.created_at, p.base_price_minor, p.overage_price_per_call_minor, p.version, p.state, p.updated_at, p.deleted_at";
    private const string SubscriptionColumns = "s.id, s.consumer_id, s.api_id, s.plan_id, s.provider_id, s.status, s.created_at, s.canceled_at, s.cycle_anchor, " +
        "s.plan_version, (SELECT version FROM plans WHERE id = s.plan_id)";
    private const int SubscriptionColumnCount = 11;

    /// <summary>Stores a new plan; null when the API already has a plan of that name.</summary>
    public async Task<(PlanRecord? Plan, bool LimitReached)> CreatePlanAsync(string apiId, string providerId, string name, int requestsPerSecond, int burst,
        long monthlyQuota, long pricePerCallMinor, string currency, bool overageAllowed, long basePriceMinor, long overagePricePerCallMinor,
        int maxPlansPerApi, string createdBy, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var plan = new PlanRecord(ResourceIds.New("plan"), apiId, providerId, name, requestsPerSecond, burst, monthlyQuota, pricePerCallMinor,
            currency, overageAllowed, now, basePriceMinor, overagePricePerCallMinor, UpdatedAt: now);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        // Counted in the same immediate transaction as the insert, so concurrent creations cannot overshoot.
        await using (var count = connection.CreateCommand())
        {
            count.Transaction = transaction;
            count.CommandText = "SELECT COUNT(*) FROM plans WHERE api_id = @api_id AND deleted_at IS NULL;";
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
                               base_price_minor, overage_price_per_call_minor, version, state, updated_at)
            VALUES (@id, @api_id, @provider_id, @name, @rps, @burst, @quota, @price, @currency, @overage, @created_at, @base_price, @overage_price, 1, 1, @created_at);
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
        await InsertVersionAsync(connection, transaction, plan, createdBy, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (plan, false);
    }

    /// <summary>The plan (deleted ones too), or null.</summary>
    public async Task<PlanRecord?> FindPlanAsync(string planId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await FindPlanAsync(connection, null, planId, cancellationToken);
    }

    private static async Task<PlanRecord?> FindPlanAsync(SqliteConnection connection, SqliteTransaction? transaction, string planId,
        CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT {PlanColumns} FROM plans p WHERE p.id = @id;";
        Bind(command, ("@id", planId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadPlan(reader, 0) : null;
    }

    /// <summary>
    /// One page of the API's plans, oldest first, after the plan at <paramref name="after"/> (its
    /// creation time and rowid, the order's keys); the extra row read tells whether more follow.
    /// </summary>
    public async Task<(IReadOnlyList<PlanRecord> Page, ListCursor? Next)> ListPlansAsync(string apiId, bool showArchived, int pageSize, ListCursor? after,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {PlanColumns}, p.created_at, p.rowid FROM plans p
            WHERE p.api_id = @api_id AND p.deleted_at IS NULL AND (@show_archived = 1 OR p.state = 1)
              AND (@after_at IS NULL OR (p.created_at, p.rowid) > (@after_at, @after_row))
            ORDER BY p.created_at, p.rowid
            LIMIT @limit;
            """;
        Bind(command, ("@api_id", apiId), ("@show_archived", showArchived ? 1 : 0), ("@after_at", after?.CreatedAt), ("@after_row", after?.RowId),
            ("@limit", pageSize + 1));
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
    /// The plan's state and version are read again in the transaction: an archived or deleted plan
    /// is refused, and a plan changed since <paramref name="plan"/> was read is reported (the caller
    /// reads it again, so the credit-hold check always saw the terms subscribed to).
    /// </summary>
    public async Task<SubscribeResult> SubscribeAsync(string consumerId, PlanRecord plan, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var current = await FindPlanAsync(connection, transaction, plan.Id, cancellationToken);
        if (current is null || current.DeletedAt is not null)
        {
            return new SubscribeResult(null, false, SubscribeRefusal.Deleted);
        }
        if (current.State == PlanStates.Archived)
        {
            return new SubscribeResult(null, false, SubscribeRefusal.Archived);
        }
        if (current.Version != plan.Version)
        {
            return new SubscribeResult(null, false, SubscribeRefusal.PlanChanged);
        }
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
            subscription = subscription with { CycleVersion = await CycleVersionAsync(connection, transaction, subscription, now, cancellationToken) };
            command.CommandText = "UPDATE subscriptions SET status = @active, canceled_at = NULL WHERE id = @id AND status = @canceled;";
            Bind(command, ("@id", subscription.Id), ("@active", Active), ("@canceled", Canceled));
        }
        else
        {
            subscription = new SubscriptionRecord(ResourceIds.New("sub"), consumerId, plan.ApiId, plan.Id, plan.ProviderId, true, now, null,
                inPaidCycle ? previous!.CycleAnchor : now, current.Version, current.Version, current.Version);
            command.CommandText = """
                INSERT INTO subscriptions (id, consumer_id, api_id, plan_id, provider_id, status, created_at, canceled_at, cycle_anchor, plan_version)
                VALUES (@id, @consumer_id, @api_id, @plan_id, @provider_id, 1, @created_at, NULL, @cycle_anchor, @plan_version);
                """;
            Bind(command, ("@id", subscription.Id), ("@consumer_id", consumerId), ("@api_id", plan.ApiId), ("@plan_id", plan.Id),
                ("@provider_id", plan.ProviderId), ("@created_at", subscription.CreatedAt), ("@cycle_anchor", subscription.CycleAnchor),
                ("@plan_version", current.Version));
        }
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == SqliteConstraintUnique)
        {
            return new SubscribeResult(null, false, SubscribeRefusal.AlreadySubscribed);
        }
        await transaction.CommitAsync(cancellationToken);
        return new SubscribeResult(subscription, resumed, SubscribeRefusal.None);
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
        var (page, next) = await ReadPageAsync(command, pageSize, ReadSubscription, cancellationToken);
        var resolved = new List<SubscriptionRecord>(page.Count);
        foreach (var subscription in page)
        {
            resolved.Add(await WithCycleVersionAsync(connection, null, subscription, cancellationToken));
        }
        return (resolved, next);
    }

    /// <summary>The subscription when the viewer is its consumer, the API's provider or an admin; else null.</summary>
    public async Task<SubscriptionRecord?> FindSubscriptionAsync(string subscriptionId, Viewer viewer, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await FindSubscriptionAsync(connection, null, subscriptionId, viewer, cancellationToken) is { } found
            ? await WithCycleVersionAsync(connection, null, found, cancellationToken)
            : null;
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
        subscription = await WithCycleVersionAsync(connection, transaction, subscription, cancellationToken);
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
        SubscriptionRecord subscription;
        PlanRecord plan;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }
            (subscription, plan) = (ReadSubscription(reader, 0), ReadPlan(reader, SubscriptionColumnCount));
        }
        // The terms of the subscription's current cycle: its plan's version at that cycle's start.
        return await AtCycleAsync(connection, subscription, plan, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
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
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((ReadSubscription(reader, 0), ReadPlan(reader, SubscriptionColumnCount)));
            }
        }
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i < rows.Count; i++)
        {
            // Each with the plan version of its current cycle (billing prices each cycle with GetCycleTerms).
            rows[i] = await AtCycleAsync(connection, rows[i].Item1, rows[i].Item2, now, cancellationToken);
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
        OveragePricePerCallMinor: reader.GetInt64(at + 12),
        Version: reader.GetInt64(at + 13),
        State: (PlanStates)reader.GetInt64(at + 14),
        UpdatedAt: reader.GetInt64(at + 15),
        DeletedAt: reader.IsDBNull(at + 16) ? null : reader.GetInt64(at + 16));

    private static SubscriptionRecord ReadSubscription(SqliteDataReader reader, int at) => new(
        Id: reader.GetString(at),
        ConsumerId: reader.GetString(at + 1),
        ApiId: reader.GetString(at + 2),
        PlanId: reader.GetString(at + 3),
        ProviderId: reader.GetString(at + 4),
        Active: reader.GetInt64(at + 5) == Active,
        CreatedAt: reader.GetInt64(at + 6),
        CanceledAt: reader.IsDBNull(at + 7) ? null : reader.GetInt64(at + 7),
        CycleAnchor: reader.GetInt64(at + 8),
        StartVersion: reader.GetInt64(at + 9),
        PlanLatestVersion: reader.GetInt64(at + 10));

    private static void Bind(SqliteCommand command, params (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }
}
