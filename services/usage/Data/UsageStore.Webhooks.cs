using Microsoft.Data.Sqlite;

namespace Veil.Usage.Data;

/// <summary>A consumer's webhook; the secret stays sealed (AES-256-GCM under the KEK, <c>vsk1.…</c>) here.</summary>
public sealed record WebhookRecord(string ConsumerId, string Url, string ProtectedSecret, long CreatedAtMs, long UpdatedAtMs);

/// <summary>A notification waiting in the outbox.</summary>
public sealed record PendingNotification(string Id, string ConsumerId, string SubscriptionId, int ThresholdPercent, string Payload, int Attempts);

/// <summary>One delivery attempt as recorded in the log.</summary>
public sealed record DeliveryRow(
    long Id, string NotificationId, string SubscriptionId, int ThresholdPercent, int Attempt, long AttemptedAtMs,
    string Url, int StatusCode, string Error, bool Succeeded, long DurationMs, string Type);

/// <summary>
/// A notification other than a quota notice, to queue: <paramref name="DedupKey"/> names what it is
/// about, once per <paramref name="Type"/> (the outbox keeps the first and ignores repeats).
/// </summary>
public sealed record NewNotification(string Id, string Type, string ConsumerId, string DedupKey, string Payload);

/// <summary>Outbox states (<c>notifications.status</c>).</summary>
public enum NotificationStatus
{
    Pending = 0,
    Delivered = 1,
    Failed = 2,
    NoWebhook = 3,
}

public sealed partial class UsageStore
{
    /// <summary>Creates or replaces the consumer's webhook.</summary>
    public async Task<WebhookRecord> SetWebhookAsync(string consumerId, string url, string protectedSecret, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        return await WriteAsync(async (connection, transaction) =>
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                INSERT INTO webhooks (consumer_id, url, protected_secret, created_at, updated_at)
                VALUES ($consumer_id, $url, $secret, $now, $now)
                ON CONFLICT (consumer_id) DO UPDATE SET url = excluded.url, protected_secret = excluded.protected_secret, updated_at = excluded.updated_at
                RETURNING created_at;
                """;
            command.Parameters.AddWithValue("$consumer_id", consumerId);
            command.Parameters.AddWithValue("$url", url);
            command.Parameters.AddWithValue("$secret", protectedSecret);
            command.Parameters.AddWithValue("$now", now);
            var created = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            return new WebhookRecord(consumerId, url, protectedSecret, created, now);
        }, cancellationToken);
    }

    /// <summary>The consumer's webhook, or null.</summary>
    public async Task<WebhookRecord?> GetWebhookAsync(string consumerId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT url, protected_secret, created_at, updated_at FROM webhooks WHERE consumer_id = $consumer_id;";
        command.Parameters.AddWithValue("$consumer_id", consumerId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new WebhookRecord(consumerId, reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3))
            : null;
    }

    /// <summary>
    /// Passes every webhook's stored secret to <paramref name="reseal"/> (with its consumer id) and
    /// stores what it returns instead (null: keep), in one write transaction; returns how many changed.
    /// </summary>
    public Task<int> ResealWebhookSecretsAsync(Func<string, string, string?> reseal, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, transaction) =>
        {
            var rows = new List<(string ConsumerId, string Secret)>();
            await using (var select = connection.CreateCommand())
            {
                select.Transaction = transaction;
                select.CommandText = "SELECT consumer_id, protected_secret FROM webhooks;";
                await using var reader = await select.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    rows.Add((reader.GetString(0), reader.GetString(1)));
                }
            }
            var changed = 0;
            foreach (var (consumerId, secret) in rows)
            {
                if (reseal(consumerId, secret) is not { } replacement)
                {
                    continue;
                }
                await using var update = connection.CreateCommand();
                update.Transaction = transaction;
                update.CommandText = "UPDATE webhooks SET protected_secret = $secret WHERE consumer_id = $consumer_id;";
                update.Parameters.AddWithValue("$secret", replacement);
                update.Parameters.AddWithValue("$consumer_id", consumerId);
                await update.ExecuteNonQueryAsync(cancellationToken);
                changed++;
            }
            return changed;
        }, cancellationToken);

    /// <summary>Removes the consumer's webhook; false when there was none.</summary>
    public Task<bool> DeleteWebhookAsync(string consumerId, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, transaction) =>
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM webhooks WHERE consumer_id = $consumer_id;";
            command.Parameters.AddWithValue("$consumer_id", consumerId);
            return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        }, cancellationToken);

    /// <summary>
    /// Queues each notification whose consumer has a webhook now and that is not queued already
    /// (same type and dedup key), due at once, in one write transaction; returns those queued.
    /// One without a webhook is not stored, so a later call queues it once the consumer sets one.
    /// </summary>
    public Task<List<NewNotification>> QueueNotificationsAsync(IReadOnlyList<NewNotification> notifications, long nowMs,
        CancellationToken cancellationToken) =>
        WriteAsync(async (connection, transaction) =>
        {
            var queued = new List<NewNotification>();
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                INSERT OR IGNORE INTO notifications (id, type, consumer_id, dedup_key, payload, next_attempt_at, created_at)
                SELECT $id, $type, $consumer_id, $dedup_key, $payload, $now, $now
                WHERE EXISTS (SELECT 1 FROM webhooks WHERE consumer_id = $consumer_id);
                """;
            var id = command.Parameters.Add("$id", SqliteType.Text);
            var type = command.Parameters.Add("$type", SqliteType.Text);
            var consumer = command.Parameters.Add("$consumer_id", SqliteType.Text);
            var dedupKey = command.Parameters.Add("$dedup_key", SqliteType.Text);
            var payload = command.Parameters.Add("$payload", SqliteType.Text);
            command.Parameters.AddWithValue("$now", nowMs);
            foreach (var n in notifications)
            {
                (id.Value, type.Value, consumer.Value, dedupKey.Value, payload.Value) = (n.Id, n.Type, n.ConsumerId, n.DedupKey, n.Payload);
                if (await command.ExecuteNonQueryAsync(cancellationToken) == 1)
                {
                    queued.Add(n);
                }
            }
            return queued;
        }, cancellationToken);

    /// <summary>Pending notifications due at <paramref name="nowMs"/>, oldest due first.</summary>
    public async Task<List<PendingNotification>> DueNotificationsAsync(long nowMs, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT id, consumer_id, subscription_id, threshold_percent, payload, attempts FROM notifications
            WHERE status = 0 AND next_attempt_at <= $now ORDER BY next_attempt_at LIMIT $limit;
            """;
        command.Parameters.AddWithValue("$now", nowMs);
        command.Parameters.AddWithValue("$limit", limit);
        var rows = new List<PendingNotification>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new PendingNotification(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4), reader.GetInt32(5)));
        }
        return rows;
    }

    /// <summary>When the next pending notification is due, or null when the outbox is empty.</summary>
    public async Task<long?> NextNotificationDueAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT MIN(next_attempt_at) FROM notifications WHERE status = 0;";
        return await command.ExecuteScalarAsync(cancellationToken) is long due ? due : null;
    }

    /// <summary>
    /// Logs an attempt and moves the notification on: <paramref name="status"/> Delivered or
    /// Failed completes it; Pending schedules the next attempt at <paramref name="nextAttemptMs"/>.
    /// </summary>
    public Task RecordAttemptAsync(
        PendingNotification notification, int attempt, long attemptedAtMs, string url, int statusCode, string error,
        bool succeeded, long durationMs, NotificationStatus status, long nextAttemptMs, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, transaction) =>
        {
            await using var log = connection.CreateCommand();
            log.Transaction = transaction;
            log.CommandText = """
                INSERT INTO webhook_deliveries (notification_id, consumer_id, attempt, attempted_at, url, status_code, error, succeeded, duration_ms)
                VALUES ($id, $consumer_id, $attempt, $attempted_at, $url, $status_code, $error, $succeeded, $duration_ms);
                """;
            log.Parameters.AddWithValue("$id", notification.Id);
            log.Parameters.AddWithValue("$consumer_id", notification.ConsumerId);
            log.Parameters.AddWithValue("$attempt", attempt);
            log.Parameters.AddWithValue("$attempted_at", attemptedAtMs);
            log.Parameters.AddWithValue("$url", url);
            log.Parameters.AddWithValue("$status_code", statusCode);
            log.Parameters.AddWithValue("$error", error);
            log.Parameters.AddWithValue("$succeeded", succeeded ? 1 : 0);
            log.Parameters.AddWithValue("$duration_ms", durationMs);
            await log.ExecuteNonQueryAsync(cancellationToken);
            await UpdateNotificationAsync(connection, transaction, notification.Id, attempt, status, nextAttemptMs, attemptedAtMs, cancellationToken);
            return true;
        }, cancellationToken);

    /// <summary>Completes a notification whose consumer has no webhook (nothing to deliver to).</summary>
    public Task CompleteWithoutWebhookAsync(PendingNotification notification, long nowMs, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, transaction) =>
        {
            await UpdateNotificationAsync(connection, transaction, notification.Id, notification.Attempts, NotificationStatus.NoWebhook, nowMs, nowMs, cancellationToken);
            return true;
        }, cancellationToken);

    private static async Task UpdateNotificationAsync(
        SqliteConnection connection, SqliteTransaction transaction, string id, int attempts, NotificationStatus status,
        long nextAttemptMs, long nowMs, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            UPDATE notifications SET attempts = $attempts, status = $status, next_attempt_at = $next,
              completed_at = CASE WHEN $status = 0 THEN NULL ELSE $now END
            WHERE id = $id;
            """;
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$attempts", attempts);
        command.Parameters.AddWithValue("$status", (int)status);
        command.Parameters.AddWithValue("$next", nextAttemptMs);
        command.Parameters.AddWithValue("$now", nowMs);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The consumer's delivery log, newest first, with ids below <paramref name="beforeId"/>.</summary>
    public async Task<List<DeliveryRow>> ListDeliveriesAsync(string consumerId, int limit, long? beforeId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT d.id, d.notification_id, n.subscription_id, n.threshold_percent, d.attempt, d.attempted_at,
                   d.url, d.status_code, d.error, d.succeeded, d.duration_ms, n.type
            FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id
            WHERE d.consumer_id = $consumer_id AND d.id < $before
            ORDER BY d.id DESC LIMIT $limit;
            """;
        command.Parameters.AddWithValue("$consumer_id", consumerId);
        command.Parameters.AddWithValue("$before", beforeId ?? long.MaxValue);
        command.Parameters.AddWithValue("$limit", limit);
        var rows = new List<DeliveryRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new DeliveryRow(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4),
                reader.GetInt64(5), reader.GetString(6), reader.GetInt32(7), reader.GetString(8), reader.GetInt64(9) != 0, reader.GetInt64(10),
                reader.GetString(11)));
        }
        return rows;
    }

    /// <summary>One write transaction, behind the in-process write gate.</summary>
    private async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            await using var connection = await OpenWriterAsync(cancellationToken);
            await using var transaction = connection.BeginTransaction();
            var result = await work(connection, transaction);
            await transaction.CommitAsync(cancellationToken);
            return result;
        }
        finally
        {
            _writeGate.Release();
        }
    }
}
