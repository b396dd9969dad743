using System.Text.Json;
using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Billing;

namespace Veil.Subscriptions.Data;

/// <summary>What became of an UpdatePlan, ArchivePlan or DeletePlan.</summary>
public enum PlanChangeOutcome
{
    /// <summary>No such plan, or not the viewer's.</summary>
    NotFound,
    /// <summary>The plan is deleted: nothing changes any more.</summary>
    Deleted,
    /// <summary>The etag given is not the plan's current one.</summary>
    EtagMismatch,
    /// <summary>Another plan of the API has the new name.</summary>
    NameTaken,
    /// <summary>Active subscriptions use the plan (DeletePlan); <see cref="PlanChange.InUse"/> says how many.</summary>
    InUse,
    /// <summary>Nothing to change: no version, no state change.</summary>
    Unchanged,
    /// <summary>Stored.</summary>
    Changed,
}

/// <summary>The outcome of a change to a plan, the plan as it now is, and how many notices or users it concerns.</summary>
public sealed record PlanChange(PlanChangeOutcome Outcome, PlanRecord? Plan = null, int Notices = 0, long InUse = 0);

/// <summary>Why <see cref="SubscriptionsStore.SubscribeAsync"/> stored nothing.</summary>
public enum SubscribeRefusal
{
    None,
    AlreadySubscribed,
    Archived,
    Deleted,
    PlanChanged,
}

/// <summary>The subscription stored or resumed, or why none was.</summary>
public sealed record SubscribeResult(SubscriptionRecord? Subscription, bool Resumed, SubscribeRefusal Refusal);

/// <summary>One stored version of a plan's terms.</summary>
public sealed record PlanVersionRecord(PlanRecord Plan, long Version, string CreatedBy, long CreatedAt);

/// <summary>A queued <c>plan.changed</c> notice for one subscriber.</summary>
public sealed record PlanNoticeRecord(string Id, string ConsumerId, string SubscriptionId, string DataJson);

/// <summary>
/// Plan versions, archive and delete. The rule that picks a subscription's terms lives here, in
/// <see cref="VersionForCycleAsync"/>: the first cycle uses the version the subscription started on;
/// every later cycle the plan's newest version created before that cycle began. So a change never
/// touches a cycle already running, and every reader (entitlement, billing) draws the same line.
/// </summary>
public sealed partial class SubscriptionsStore
{
    private const string VersionColumns = "v.name, v.requests_per_second, v.burst, v.monthly_quota, v.price_per_call_minor, v.currency, " +
        "v.overage_allowed, v.base_price_minor, v.overage_price_per_call_minor, v.version, v.created_by, v.created_at";

    private static readonly JsonSerializerOptions NoticeJson = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Applies <paramref name="change"/> to the viewer's plan as a new version, when it changes
    /// anything and every one of <paramref name="etags"/> (etags or If-Match values) names the current version; queues a
    /// <c>plan.changed</c> notice for each active subscriber in the same transaction.
    /// </summary>
    public async Task<PlanChange> UpdatePlanAsync(string planId, Viewer viewer, IReadOnlyList<string> etags, Func<PlanRecord, PlanRecord> change,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var plan = await FindPlanAsync(connection, transaction, planId, cancellationToken);
        if (plan is null || !(viewer.IsAdmin || plan.ProviderId == viewer.AccountId))
        {
            return new PlanChange(PlanChangeOutcome.NotFound);
        }
        if (plan.DeletedAt is not null)
        {
            return new PlanChange(PlanChangeOutcome.Deleted, plan);
        }
        if (!etags.All(plan.MatchesEtag))
        {
            return new PlanChange(PlanChangeOutcome.EtagMismatch, plan);
        }
        var next = change(plan);
        if (next.SameTerms(plan))
        {
            return new PlanChange(PlanChangeOutcome.Unchanged, plan);
        }
        next = next with { Version = plan.Version + 1, UpdatedAt = now };
        await using (var update = connection.CreateCommand())
        {
            update.Transaction = transaction;
            update.CommandText = """
                UPDATE plans SET name = @name, requests_per_second = @rps, burst = @burst, monthly_quota = @quota, price_per_call_minor = @price,
                  currency = @currency, overage_allowed = @overage, base_price_minor = @base_price, overage_price_per_call_minor = @overage_price,
                  version = @version, updated_at = @now
                WHERE id = @id AND version = @previous;
                """;
            Bind(update, ("@id", plan.Id), ("@name", next.Name), ("@rps", next.RequestsPerSecond), ("@burst", next.Burst), ("@quota", next.MonthlyQuota),
                ("@price", next.PricePerCallMinor), ("@currency", next.Currency), ("@overage", next.OverageAllowed ? 1 : 0),
                ("@base_price", next.BasePriceMinor), ("@overage_price", next.OveragePricePerCallMinor), ("@version", next.Version), ("@now", now),
                ("@previous", plan.Version));
            try
            {
                await update.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == SqliteConstraintUnique)
            {
                return new PlanChange(PlanChangeOutcome.NameTaken, plan);
            }
        }
        await InsertVersionAsync(connection, transaction, next with { CreatedAt = now }, viewer.AccountId, cancellationToken);
        var notices = await QueueNoticesAsync(connection, transaction, next, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new PlanChange(PlanChangeOutcome.Changed, next, notices);
    }

    /// <summary>One page of the viewer's plan's versions, newest first, below <paramref name="beforeVersion"/>; null when not the viewer's.</summary>
    public async Task<(PlanRecord Plan, IReadOnlyList<PlanVersionRecord> Versions, bool More)?> ListPlanVersionsAsync(string planId, Viewer viewer, int pageSize,
        long? beforeVersion, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var plan = await FindPlanAsync(connection, null, planId, cancellationToken);
        if (plan is null || !(viewer.IsAdmin || plan.ProviderId == viewer.AccountId))
        {
            return null;
        }
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {VersionColumns} FROM plan_versions v
            WHERE v.plan_id = @id AND (@before IS NULL OR v.version < @before)
            ORDER BY v.version DESC LIMIT @limit;
            """;
        Bind(command, ("@id", planId), ("@before", beforeVersion), ("@limit", pageSize + 1));
        var versions = new List<PlanVersionRecord>(pageSize);
        var more = false;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (versions.Count == pageSize)
            {
                more = true;
                break;
            }
            versions.Add(ReadVersion(reader, plan));
        }
        return (plan, versions, more);
    }

    /// <summary>Archives the viewer's plan (idempotent).</summary>
    public async Task<PlanChange> ArchivePlanAsync(string planId, Viewer viewer, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var plan = await FindPlanAsync(connection, transaction, planId, cancellationToken);
        if (plan is null || !(viewer.IsAdmin || plan.ProviderId == viewer.AccountId))
        {
            return new PlanChange(PlanChangeOutcome.NotFound);
        }
        if (plan.DeletedAt is not null)
        {
            return new PlanChange(PlanChangeOutcome.Deleted, plan);
        }
        if (plan.State == PlanStates.Archived)
        {
            return new PlanChange(PlanChangeOutcome.Unchanged, plan);
        }
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE plans SET state = @archived, updated_at = @now WHERE id = @id;";
        Bind(command, ("@id", plan.Id), ("@archived", (long)PlanStates.Archived), ("@now", now));
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new PlanChange(PlanChangeOutcome.Changed, plan with { State = PlanStates.Archived, UpdatedAt = now });
    }

    /// <summary>
    /// Soft-deletes the viewer's plan when no active subscription uses it (idempotent). The count and
    /// the delete share one immediate transaction with every Subscribe, so none can slip in between.
    /// </summary>
    public async Task<PlanChange> DeletePlanAsync(string planId, Viewer viewer, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var plan = await FindPlanAsync(connection, transaction, planId, cancellationToken);
        if (plan is null || !(viewer.IsAdmin || plan.ProviderId == viewer.AccountId))
        {
            return new PlanChange(PlanChangeOutcome.NotFound);
        }
        if (plan.DeletedAt is not null)
        {
            return new PlanChange(PlanChangeOutcome.Unchanged, plan);
        }
        await using (var count = connection.CreateCommand())
        {
            count.Transaction = transaction;
            count.CommandText = "SELECT COUNT(*) FROM subscriptions WHERE plan_id = @id AND status = @active;";
            Bind(count, ("@id", plan.Id), ("@active", Active));
            var inUse = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
            if (inUse > 0)
            {
                return new PlanChange(PlanChangeOutcome.InUse, plan, InUse: inUse);
            }
        }
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE plans SET deleted_at = @now, updated_at = @now WHERE id = @id;";
        Bind(command, ("@id", plan.Id), ("@now", now));
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new PlanChange(PlanChangeOutcome.Changed, plan with { DeletedAt = now, UpdatedAt = now });
    }

    /// <summary>
    /// The plan version (terms) of each asked subscription cycle, by <see cref="VersionForCycleAsync"/>,
    /// in the order asked; unknown subscriptions are left out.
    /// </summary>
    public async Task<IReadOnlyList<(string SubscriptionId, long CycleStart, PlanRecord Plan)>> CycleTermsAsync(
        IReadOnlyList<(string SubscriptionId, long CycleStart)> cycles, CancellationToken cancellationToken)
    {
        var found = new List<(string, long, PlanRecord)>(cycles.Count);
        await using var connection = await database.OpenAsync(cancellationToken);
        foreach (var (subscriptionId, cycleStart) in cycles)
        {
            SubscriptionRecord subscription;
            PlanRecord plan;
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = $"SELECT {SubscriptionColumns}, {PlanColumns} FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.id = @id;";
                Bind(command, ("@id", subscriptionId));
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                if (!await reader.ReadAsync(cancellationToken))
                {
                    continue;
                }
                (subscription, plan) = (ReadSubscription(reader, 0), ReadPlan(reader, SubscriptionColumnCount));
            }
            var version = await VersionForCycleAsync(connection, null, subscription, cycleStart, cancellationToken);
            found.Add((subscriptionId, cycleStart, await PlanAtVersionAsync(connection, null, plan, version, cancellationToken)));
        }
        return found;
    }

    /// <summary>Up to <paramref name="limit"/> queued notices not yet handed to usage, oldest first.</summary>
    public async Task<IReadOnlyList<PlanNoticeRecord>> PendingNoticesAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, consumer_id, subscription_id, data_json FROM plan_notices WHERE sent_at IS NULL ORDER BY created_at, id LIMIT @limit;";
        Bind(command, ("@limit", limit));
        var notices = new List<PlanNoticeRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            notices.Add(new PlanNoticeRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }
        return notices;
    }

    /// <summary>Marks notices as handed to usage (which queues each id once).</summary>
    public async Task MarkNoticesSentAsync(IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE plan_notices SET sent_at = @now WHERE id = @id AND sent_at IS NULL;";
        Bind(command, ("@id", ""), ("@now", now));
        foreach (var id in ids)
        {
            command.Parameters["@id"].Value = id;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task InsertVersionAsync(SqliteConnection connection, SqliteTransaction transaction, PlanRecord plan, string createdBy,
        CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO plan_versions (plan_id, version, name, requests_per_second, burst, monthly_quota, price_per_call_minor, currency, overage_allowed,
                                       base_price_minor, overage_price_per_call_minor, created_at, created_by)
            VALUES (@id, @version, @name, @rps, @burst, @quota, @price, @currency, @overage, @base_price, @overage_price, @created_at, @created_by);
            """;
        Bind(command, ("@id", plan.Id), ("@version", plan.Version), ("@name", plan.Name), ("@rps", plan.RequestsPerSecond), ("@burst", plan.Burst),
            ("@quota", plan.MonthlyQuota), ("@price", plan.PricePerCallMinor), ("@currency", plan.Currency), ("@overage", plan.OverageAllowed ? 1 : 0),
            ("@base_price", plan.BasePriceMinor), ("@overage_price", plan.OveragePricePerCallMinor), ("@created_at", plan.UpdatedAt),
            ("@created_by", createdBy));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A <c>plan.changed</c> notice for each active subscriber of <paramref name="plan"/> (just
    /// changed to its new version at <paramref name="now"/>): the terms of its current cycle, the
    /// new terms, and when they take effect (its next cycle start). The id is deterministic, so a
    /// notice is queued once whatever retries.
    /// </summary>
    private static async Task<int> QueueNoticesAsync(SqliteConnection connection, SqliteTransaction transaction, PlanRecord plan, long now,
        CancellationToken cancellationToken)
    {
        var subscribers = new List<SubscriptionRecord>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = $"SELECT {SubscriptionColumns} FROM subscriptions s WHERE s.plan_id = @id AND s.status = @active;";
            Bind(command, ("@id", plan.Id), ("@active", Active));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                subscribers.Add(ReadSubscription(reader, 0));
            }
        }
        await using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = """
            INSERT OR IGNORE INTO plan_notices (id, consumer_id, subscription_id, data_json, created_at)
            VALUES (@id, @consumer_id, @subscription_id, @data, @now);
            """;
        Bind(insert, ("@id", ""), ("@consumer_id", ""), ("@subscription_id", ""), ("@data", ""), ("@now", now));
        var queued = 0;
        var versions = new Dictionary<long, PlanRecord> { [plan.Version] = plan };
        foreach (var subscription in subscribers)
        {
            var cycle = BillingCycle.Containing(subscription.CycleAnchor, now);
            var oldVersion = await VersionForCycleAsync(connection, transaction, subscription, cycle.StartMs, cancellationToken);
            if (!versions.TryGetValue(oldVersion, out var old))
            {
                versions[oldVersion] = old = await PlanAtVersionAsync(connection, transaction, plan, oldVersion, cancellationToken);
            }
            var data = JsonSerializer.Serialize(new PlanChangedData(plan.Id, plan.ApiId, oldVersion, plan.Version, NoticeTerms.Of(old), NoticeTerms.Of(plan),
                DateTimeOffset.FromUnixTimeMilliseconds(cycle.EndMs)), NoticeJson);
            insert.Parameters["@id"].Value = PlanNoticeId(plan.Id, plan.Version, subscription.Id);
            insert.Parameters["@consumer_id"].Value = subscription.ConsumerId;
            insert.Parameters["@subscription_id"].Value = subscription.Id;
            insert.Parameters["@data"].Value = data;
            queued += await insert.ExecuteNonQueryAsync(cancellationToken);
        }
        return queued;
    }

    /// <summary>The notice id of a subscriber's notice of a plan version: the same on every retry.</summary>
    public static string PlanNoticeId(string planId, long version, string subscriptionId) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"plan.changed:{planId}:{version}:{subscriptionId}");

    /// <summary>
    /// The plan version that prices and limits the cycle of <paramref name="subscription"/> starting at
    /// <paramref name="cycleStartMs"/>: the version it started on for its first cycle (and any before
    /// it), else the plan's newest version created before the cycle began (never older than the one it
    /// started on). A version created during a cycle thus applies from the next one.
    /// </summary>
    private static async Task<long> VersionForCycleAsync(SqliteConnection connection, SqliteTransaction? transaction, SubscriptionRecord subscription,
        long cycleStartMs, CancellationToken cancellationToken)
    {
        if (cycleStartMs <= subscription.CreatedAt || subscription.PlanLatestVersion == subscription.StartVersion)
        {
            return subscription.StartVersion;
        }
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT MAX(version) FROM plan_versions WHERE plan_id = @id AND created_at < @start;";
        Bind(command, ("@id", subscription.PlanId), ("@start", cycleStartMs));
        var newest = await command.ExecuteScalarAsync(cancellationToken);
        return newest is long version ? Math.Max(version, subscription.StartVersion) : subscription.StartVersion;
    }

    /// <summary>The subscription with the version of the cycle it is in now (the cycle of its cancellation, when cancelled).</summary>
    private async Task<SubscriptionRecord> WithCycleVersionAsync(SqliteConnection connection, SqliteTransaction? transaction, SubscriptionRecord subscription,
        CancellationToken cancellationToken) =>
        subscription with { CycleVersion = await CycleVersionAsync(connection, transaction, subscription,
            subscription.CanceledAt ?? time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken) };

    /// <summary>The version of the subscription's cycle that contains <paramref name="atMs"/>.</summary>
    private static Task<long> CycleVersionAsync(SqliteConnection connection, SqliteTransaction? transaction, SubscriptionRecord subscription, long atMs,
        CancellationToken cancellationToken) =>
        VersionForCycleAsync(connection, transaction, subscription, BillingCycle.Containing(subscription.CycleAnchor, atMs).StartMs, cancellationToken);

    /// <summary>The subscription and its plan's terms in the version of its cycle containing <paramref name="atMs"/>.</summary>
    private static async Task<(SubscriptionRecord, PlanRecord)> AtCycleAsync(SqliteConnection connection, SubscriptionRecord subscription, PlanRecord plan,
        long atMs, CancellationToken cancellationToken)
    {
        var version = await CycleVersionAsync(connection, null, subscription, atMs, cancellationToken);
        return (subscription with { CycleVersion = version }, await PlanAtVersionAsync(connection, null, plan, version, cancellationToken));
    }

    /// <summary><paramref name="current"/> with the terms of its <paramref name="version"/> (its state and etag stay the current ones).</summary>
    private static async Task<PlanRecord> PlanAtVersionAsync(SqliteConnection connection, SqliteTransaction? transaction, PlanRecord current, long version,
        CancellationToken cancellationToken)
    {
        if (version == current.Version)
        {
            return current;
        }
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT {VersionColumns} FROM plan_versions v WHERE v.plan_id = @id AND v.version = @version;";
        Bind(command, ("@id", current.Id), ("@version", version));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? ReadVersion(reader, current).Plan
            : throw new InvalidOperationException($"Plan {current.Id} has no version {version}.");
    }

    private static PlanVersionRecord ReadVersion(SqliteDataReader reader, PlanRecord current)
    {
        var plan = current with
        {
            Name = reader.GetString(0),
            RequestsPerSecond = reader.GetInt32(1),
            Burst = reader.GetInt32(2),
            MonthlyQuota = reader.GetInt64(3),
            PricePerCallMinor = reader.GetInt64(4),
            Currency = reader.GetString(5),
            OverageAllowed = reader.GetInt64(6) == 1,
            BasePriceMinor = reader.GetInt64(7),
            OveragePricePerCallMinor = reader.GetInt64(8),
            Version = reader.GetInt64(9),
        };
        return new PlanVersionRecord(plan, plan.Version, reader.GetString(10), reader.GetInt64(11));
    }

    /// <summary>The webhook fields of a <c>plan.changed</c> notice (camelCase JSON, added to usage's envelope).</summary>
    private sealed record PlanChangedData(string PlanId, string ApiId, long OldVersion, long NewVersion, NoticeTerms OldTerms, NoticeTerms NewTerms,
        DateTimeOffset EffectiveTime);

    /// <summary>A version's terms as a notice shows them; money in integer minor units of the currency.</summary>
    private sealed record NoticeTerms(string Name, int RequestsPerSecond, int Burst, long MonthlyQuota, long PricePerCallMinor, string Currency,
        bool OverageAllowed, long BasePriceMinor, long OveragePricePerCallMinor)
    {
        public static NoticeTerms Of(PlanRecord p) => new(p.Name, p.RequestsPerSecond, p.Burst, p.MonthlyQuota, p.PricePerCallMinor, p.Currency,
            p.OverageAllowed, p.BasePriceMinor, p.OveragePricePerCallMinor);
    }
}
