using System.Data;
using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Data;

namespace Veil.Identity.Data;

/// <summary>An account row. <see cref="PasswordHash"/> is the ASP.NET Core Identity v3 hash.</summary>
internal sealed record AccountRecord(string Id, string Email, string DisplayName, string Role, string PasswordHash, DateTimeOffset CreatedAt);

/// <summary>An API key's metadata (never the key).</summary>
internal sealed record ApiKeyRecord(
    string Id, string AccountId, string Name, string Prefix, IReadOnlyList<string> Scopes,
    DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? RevokedAt,
    IReadOnlyList<string> ApiIds, bool ReadOnly, string? RotatedFrom = null, DateTimeOffset? LastUsedAt = null);

/// <summary>What ValidateApiKey needs about a key, read in one indexed lookup.</summary>
internal sealed record ApiKeyValidation(
    string KeyId, string AccountId, string Role, string Scopes, long ExpiresAtMs, bool Revoked, string ApiIds, bool ReadOnly, long? LastUsedAtMs);

/// <summary>The outcome of RotateApiKey.</summary>
internal enum RotateOutcome
{
    Rotated,
    NotFound,
    Revoked,
    Expired,
    AlreadyRotated,
}

/// <summary>A stored signing key (PKCS#8 private key).</summary>
internal sealed record SigningKeyRecord(string Kid, byte[] PrivateKey, DateTimeOffset CreatedAt);

/// <summary>The outcome of presenting a refresh token.</summary>
internal enum RefreshOutcome
{
    Rotated,
    Invalid,
    ReuseDetected,
}

/// <summary>Audit actions; stable strings, queried by operators.</summary>
internal static class AuditActions
{
    public const string SignUp = "account.signup";
    public const string AdminBootstrapped = "account.admin_bootstrapped";
    public const string BillingManagerBootstrapped = "account.billing_manager_bootstrapped";
    public const string SignInFailed = "auth.signin_failed";
    public const string RefreshReuse = "auth.refresh_reuse_detected";
    public const string KeyCreated = "apikey.created";
    public const string KeyRevoked = "apikey.revoked";
    public const string KeyRotated = "apikey.rotated";
}

/// <summary>
/// Identity's SQLite database: accounts, signing keys, refresh tokens, API keys, secrets and the
/// audit log. One connection per unit of work; writes in immediate transactions.
/// </summary>
internal sealed class IdentityStore(SqliteDatabase database)
{
    // SQLITE_CONSTRAINT_UNIQUE (extended result code).
    private const int UniqueViolation = 2067;

    // ---- accounts -------------------------------------------------------------------------

    /// <summary>Inserts the account and its audit entry; false when the email is taken.</summary>
    public async Task<bool> TryCreateAccountAsync(AccountRecord account, string auditAction, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        try
        {
            await ExecuteAsync(connection, tx, """
                INSERT INTO accounts (id, email, display_name, role, password_hash, created_at)
                VALUES (@id, @email, @display_name, @role, @password_hash, @created_at);
                """, ct,
                ("@id", account.Id), ("@email", account.Email), ("@display_name", account.DisplayName),
                ("@role", account.Role), ("@password_hash", account.PasswordHash), ("@created_at", ToMs(account.CreatedAt)));
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == UniqueViolation)
        {
            return false;
        }
        await AuditAsync(connection, tx, account.CreatedAt, auditAction, account.Id, account.Id, $"role={account.Role}", ct);
        tx.Commit();
        return true;
    }

    public Task<AccountRecord?> FindAccountByEmailAsync(string email, CancellationToken ct) =>
        QueryAccountAsync("SELECT id, email, display_name, role, password_hash, created_at FROM accounts WHERE email = @value;", email, ct);

    public Task<AccountRecord?> GetAccountAsync(string id, CancellationToken ct) =>
        QueryAccountAsync("SELECT id, email, display_name, role, password_hash, created_at FROM accounts WHERE id = @value;", id, ct);

    public async Task UpdatePasswordHashAsync(string accountId, string passwordHash, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await ExecuteAsync(connection, tx, "UPDATE accounts SET password_hash = @hash WHERE id = @id;", ct,
            ("@hash", passwordHash), ("@id", accountId));
        tx.Commit();
    }

    private async Task<AccountRecord?> QueryAccountAsync(string sql, string value, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("@value", value);
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return new AccountRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
            reader.GetString(4), FromMs(reader.GetInt64(5)));
    }

    // ---- audit ----------------------------------------------------------------------------

    public async Task AppendAuditAsync(DateTimeOffset at, string action, string? accountId, string? target, string? detail, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await AuditAsync(connection, tx, at, action, accountId, target, detail, ct);
        tx.Commit();
    }

    private static Task AuditAsync(SqliteConnection connection, SqliteTransaction tx, DateTimeOffset at, string action,
        string? accountId, string? target, string? detail, CancellationToken ct) =>
        ExecuteAsync(connection, tx, """
            INSERT INTO audit_log (occurred_at, action, account_id, target, detail)
            VALUES (@at, @action, @account_id, @target, @detail);
            """, ct,
            ("@at", ToMs(at)), ("@action", action), ("@account_id", accountId), ("@target", target), ("@detail", detail));

    // ---- signing keys and secrets -----------------------------------------------------------

    /// <summary>
    /// The active signing keys, newest first; when there is none, <paramref name="create"/> makes
    /// one and it is stored first (in one immediate transaction, so concurrent starts agree).
    /// </summary>
    public async Task<IReadOnlyList<SigningKeyRecord>> GetOrCreateSigningKeysAsync(Func<SigningKeyRecord> create, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        var keys = new List<SigningKeyRecord>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "SELECT kid, private_key, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid;";
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                keys.Add(new SigningKeyRecord(reader.GetString(0), (byte[])reader.GetValue(1), FromMs(reader.GetInt64(2))));
            }
        }
        if (keys.Count == 0)
        {
            var key = create();
            await ExecuteAsync(connection, tx, "INSERT INTO signing_keys (kid, private_key, created_at) VALUES (@kid, @key, @at);", ct,
                ("@kid", key.Kid), ("@key", key.PrivateKey), ("@at", ToMs(key.CreatedAt)));
            keys.Add(key);
        }
        tx.Commit();
        return keys;
    }

    /// <summary>The secret called <paramref name="name"/>, created by <paramref name="create"/> when absent.</summary>
    public async Task<(byte[] Value, bool Created)> GetOrCreateSecretAsync(string name, Func<byte[]> create, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "SELECT value FROM secrets WHERE name = @name;";
            command.Parameters.AddWithValue("@name", name);
            if (await command.ExecuteScalarAsync(ct) is byte[] existing)
            {
                return (existing, false);
            }
        }
        var value = create();
        await ExecuteAsync(connection, tx, "INSERT INTO secrets (name, value, created_at) VALUES (@name, @value, @at);", ct,
            ("@name", name), ("@value", value), ("@at", ToMs(now)));
        tx.Commit();
        return (value, true);
    }

    // ---- refresh tokens -------------------------------------------------------------------

    public async Task InsertRefreshTokenAsync(string tokenHash, string familyId, string accountId, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await InsertRefreshTokenAsync(connection, tx, tokenHash, familyId, accountId, now, expiresAt, ct);
        tx.Commit();
    }

    /// <summary>
    /// Uses the refresh token hashed as <paramref name="presentedHash"/>: when it is live, marks it
    /// used and stores <paramref name="nextHash"/> in the same family; when it was already used,
    /// revokes the whole family and audits the reuse. One immediate transaction, so two concurrent
    /// presentations of one token cannot both rotate.
    /// </summary>
    public async Task<(RefreshOutcome Outcome, string? AccountId)> RotateRefreshTokenAsync(
        string presentedHash, string nextHash, DateTimeOffset now, DateTimeOffset nextExpiresAt, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        string familyId, accountId;
        long expiresAt;
        bool used, revoked;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "SELECT family_id, account_id, expires_at, used_at IS NOT NULL, revoked_at IS NOT NULL FROM refresh_tokens WHERE token_hash = @hash;";
            command.Parameters.AddWithValue("@hash", presentedHash);
            await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, ct);
            if (!await reader.ReadAsync(ct))
            {
                return (RefreshOutcome.Invalid, null);
            }
            (familyId, accountId, expiresAt, used, revoked) =
                (reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetBoolean(3), reader.GetBoolean(4));
        }

        if (revoked || expiresAt <= ToMs(now))
        {
            return (RefreshOutcome.Invalid, accountId);
        }
        if (used)
        {
            // Someone holds a copy of a token that was already exchanged: the legitimate client or
            // the thief, we cannot tell which, so every token of the family stops working.
            var revokedCount = await ExecuteAsync(connection, tx,
                "UPDATE refresh_tokens SET revoked_at = @now WHERE family_id = @family AND revoked_at IS NULL;", ct,
                ("@now", ToMs(now)), ("@family", familyId));
            await AuditAsync(connection, tx, now, AuditActions.RefreshReuse, accountId, familyId, $"revoked={revokedCount}", ct);
            tx.Commit();
            return (RefreshOutcome.ReuseDetected, accountId);
        }

        await ExecuteAsync(connection, tx, "UPDATE refresh_tokens SET used_at = @now WHERE token_hash = @hash;", ct,
            ("@now", ToMs(now)), ("@hash", presentedHash));
        await InsertRefreshTokenAsync(connection, tx, nextHash, familyId, accountId, now, nextExpiresAt, ct);
        tx.Commit();
        return (RefreshOutcome.Rotated, accountId);
    }

    private static Task InsertRefreshTokenAsync(SqliteConnection connection, SqliteTransaction tx, string tokenHash, string familyId,
        string accountId, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken ct) =>
        ExecuteAsync(connection, tx, """
            INSERT INTO refresh_tokens (token_hash, family_id, account_id, created_at, expires_at)
            VALUES (@hash, @family, @account, @now, @expires);
            """, ct,
            ("@hash", tokenHash), ("@family", familyId), ("@account", accountId), ("@now", ToMs(now)), ("@expires", ToMs(expiresAt)));

    // ---- API keys -------------------------------------------------------------------------

    public async Task CreateApiKeyAsync(ApiKeyRecord key, string keyHash, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await InsertApiKeyAsync(connection, tx, key, keyHash, ct);
        tx.Commit();
    }

    /// <summary>
    /// Rotates the account's key <paramref name="keyId"/>: <paramref name="successor"/> builds the new
    /// key from the old one; the old key's expiry becomes <paramref name="oldExpiresAt"/> (never later
    /// than it was). One immediate transaction, and a unique index on <c>rotated_from</c>, so a key
    /// gets at most one successor even when two rotations race.
    /// </summary>
    public async Task<(RotateOutcome Outcome, ApiKeyRecord? Old, ApiKeyRecord? New)> RotateApiKeyAsync(
        string accountId, string keyId, DateTimeOffset now, DateTimeOffset oldExpiresAt, Func<ApiKeyRecord, ApiKeyRecord> successor,
        string successorHash, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        var old = await GetApiKeyAsync(connection, tx, accountId, keyId, ct);
        if (old is null)
        {
            return (RotateOutcome.NotFound, null, null);
        }
        if (old.RevokedAt is not null)
        {
            return (RotateOutcome.Revoked, old, null);
        }
        if (old.ExpiresAt <= now)
        {
            return (RotateOutcome.Expired, old, null);
        }
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "SELECT 1 FROM api_keys WHERE rotated_from = @id;";
            command.Parameters.AddWithValue("@id", keyId);
            if (await command.ExecuteScalarAsync(ct) is not null)
            {
                return (RotateOutcome.AlreadyRotated, old, null);
            }
        }
        var next = successor(old);
        var shortened = oldExpiresAt < old.ExpiresAt ? oldExpiresAt : old.ExpiresAt;
        await ExecuteAsync(connection, tx, "UPDATE api_keys SET expires_at = @expires WHERE id = @id;", ct,
            ("@expires", ToMs(shortened)), ("@id", keyId));
        await InsertApiKeyAsync(connection, tx, next, successorHash, ct);
        await AuditAsync(connection, tx, now, AuditActions.KeyRotated, accountId, keyId, $"successor={next.Id}", ct);
        tx.Commit();
        return (RotateOutcome.Rotated, old with { ExpiresAt = shortened }, next);
    }

    /// <summary>Stores coarse last-used times in one transaction; a stored time is only ever moved forward.</summary>
    public async Task RecordApiKeysUsedAsync(IReadOnlyCollection<(string KeyId, long UsedAtMs)> uses, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "UPDATE api_keys SET last_used_at = @at WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @at);";
        var id = command.Parameters.Add("@id", SqliteType.Text);
        var at = command.Parameters.Add("@at", SqliteType.Integer);
        foreach (var (keyId, usedAtMs) in uses)
        {
            id.Value = keyId;
            at.Value = usedAtMs;
            await command.ExecuteNonQueryAsync(ct);
        }
        tx.Commit();
    }

    private static async Task InsertApiKeyAsync(SqliteConnection connection, SqliteTransaction tx, ApiKeyRecord key, string keyHash, CancellationToken ct)
    {
        await ExecuteAsync(connection, tx, """
            INSERT INTO api_keys (id, account_id, name, prefix, key_hash, scopes, created_at, expires_at, api_ids, read_only, rotated_from)
            VALUES (@id, @account, @name, @prefix, @hash, @scopes, @created, @expires, @api_ids, @read_only, @rotated_from);
            """, ct,
            ("@id", key.Id), ("@account", key.AccountId), ("@name", key.Name), ("@prefix", key.Prefix), ("@hash", keyHash),
            ("@scopes", string.Join(' ', key.Scopes)), ("@created", ToMs(key.CreatedAt)), ("@expires", ToMs(key.ExpiresAt)),
            ("@api_ids", string.Join(' ', key.ApiIds)), ("@read_only", key.ReadOnly ? 1 : 0), ("@rotated_from", key.RotatedFrom));
        await AuditAsync(connection, tx, key.CreatedAt, AuditActions.KeyCreated, key.AccountId, key.Id, $"prefix={key.Prefix}", ct);
    }

    private static async Task<ApiKeyRecord?> GetApiKeyAsync(SqliteConnection connection, SqliteTransaction tx, string accountId, string keyId, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"SELECT {ApiKeyColumns} FROM api_keys WHERE id = @id AND account_id = @account;";
        command.Parameters.AddWithValue("@id", keyId);
        command.Parameters.AddWithValue("@account", accountId);
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, ct);
        return await reader.ReadAsync(ct) ? ReadApiKey(reader) : null;
    }

    /// <summary>The account's keys, newest first.</summary>
    public async Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(string accountId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {ApiKeyColumns} FROM api_keys WHERE account_id = @account ORDER BY created_at DESC, id;
            """;
        command.Parameters.AddWithValue("@account", accountId);
        var keys = new List<ApiKeyRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            keys.Add(ReadApiKey(reader));
        }
        return keys;
    }

    /// <summary>
    /// Revokes the account's key (idempotent: a revoked key keeps its first revocation time);
    /// null when the key does not exist or belongs to another account.
    /// </summary>
    public async Task<ApiKeyRecord?> RevokeApiKeyAsync(string accountId, string keyId, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        var changed = await ExecuteAsync(connection, tx,
            "UPDATE api_keys SET revoked_at = @now WHERE id = @id AND account_id = @account AND revoked_at IS NULL;", ct,
            ("@now", ToMs(now)), ("@id", keyId), ("@account", accountId));
        if (changed > 0)
        {
            await AuditAsync(connection, tx, now, AuditActions.KeyRevoked, accountId, keyId, null, ct);
        }
        var key = await GetApiKeyAsync(connection, tx, accountId, keyId, ct);
        tx.Commit();
        return key;
    }

    /// <summary>The edge's hot path on a cache miss: one lookup through the unique index on the hash.</summary>
    public async Task<ApiKeyValidation?> FindApiKeyByHashAsync(string keyHash, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT k.id, k.account_id, a.role, k.scopes, k.expires_at, k.revoked_at IS NOT NULL, k.api_ids, k.read_only, k.last_used_at
            FROM api_keys k JOIN accounts a ON a.id = k.account_id
            WHERE k.key_hash = @hash;
            """;
        command.Parameters.AddWithValue("@hash", keyHash);
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return new ApiKeyValidation(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
            reader.GetInt64(4), reader.GetBoolean(5), reader.GetString(6), reader.GetBoolean(7), reader.IsDBNull(8) ? null : reader.GetInt64(8));
    }

    private const string ApiKeyColumns =
        "id, account_id, name, prefix, scopes, created_at, expires_at, revoked_at, api_ids, read_only, rotated_from, last_used_at";

    private static ApiKeyRecord ReadApiKey(SqliteDataReader reader) => new(
        reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
        reader.GetString(4).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        FromMs(reader.GetInt64(5)), FromMs(reader.GetInt64(6)),
        reader.IsDBNull(7) ? null : FromMs(reader.GetInt64(7)),
        reader.GetString(8).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        reader.GetBoolean(9),
        reader.IsDBNull(10) ? null : reader.GetString(10),
        reader.IsDBNull(11) ? null : FromMs(reader.GetInt64(11)));

    // ---- helpers --------------------------------------------------------------------------

    private static async Task<int> ExecuteAsync(SqliteConnection connection, SqliteTransaction tx, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return await command.ExecuteNonQueryAsync(ct);
    }

    internal static long ToMs(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    internal static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
