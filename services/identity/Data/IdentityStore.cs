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

/// <summary>A key ListExpiringApiKeys returns: who owns it, how to recognise it, when it expires (Unix ms).</summary>
internal sealed record ExpiringApiKeyRecord(string Id, string AccountId, string Name, string Prefix, long ExpiresAtMs);

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

/// <summary>
/// A stored signing key: its PKCS#8 private key sealed with the KEK (<see cref="IdentityStore.SigningKeyPurpose"/>),
/// when it was made (and published), when it signs from, and when a successor replaced it.
/// </summary>
internal sealed record SigningKeyRecord(string Kid, byte[] PrivateKey, DateTimeOffset CreatedAt, DateTimeOffset ActivatesAt, DateTimeOffset? RetiredAt = null);

/// <summary>What one step of the signing-key schedule changes.</summary>
internal sealed record SigningKeyChanges(
    IReadOnlyList<SigningKeyRecord> Add, IReadOnlyList<(string Kid, DateTimeOffset RetiredAt)> Retire, IReadOnlyList<string> Delete)
{
    public static readonly SigningKeyChanges None = new([], [], []);
}

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
    public const string SignedOut = "auth.signed_out";
    public const string SignedOutEverywhere = "auth.signed_out_everywhere";
    public const string PasswordChanged = "account.password_changed";
    public const string KeyCreated = "apikey.created";
    public const string KeyRevoked = "apikey.revoked";
    public const string SigningKeyRotationRequested = "signing_key.rotation_requested";
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
                ("@role", account.Role), ("@password_hash", account.PasswordHash), ("@created_at", account.CreatedAt.ToUnixTimeMilliseconds()));
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

    /// <summary>
    /// Stores the new password hash and revokes every refresh token of the account, in one
    /// transaction, so no session made with the old password survives the change.
    /// </summary>
    public async Task ChangePasswordAsync(string accountId, string passwordHash, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await ExecuteAsync(connection, tx, "UPDATE accounts SET password_hash = @hash WHERE id = @id;", ct,
            ("@hash", passwordHash), ("@id", accountId));
        var families = await RevokeAccountSessionsAsync(connection, tx, accountId, now, ct);
        await AuditAsync(connection, tx, now, AuditActions.PasswordChanged, accountId, accountId, $"sessions_ended={families}", ct);
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
            reader.GetString(4), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)));
    }

    // ---- sign-in back-off -----------------------------------------------------------------

    /// <summary>Consecutive failed sign-ins for <paramref name="email"/> and when the last one was; (0, null) when none.</summary>
    public async Task<(int Failures, DateTimeOffset? LastFailedAt)> GetSignInFailuresAsync(string email, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT failures, last_failed_at FROM signin_failures WHERE email = @email;";
        command.Parameters.AddWithValue("@email", email);
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt32(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1))) : (0, null);
    }

    /// <summary>
    /// Counts one more failed sign-in for <paramref name="email"/> and audits it, in one transaction;
    /// rows last touched before <paramref name="pruneBefore"/> are deleted on the way (bounded table).
    /// Returns the new count.
    /// </summary>
    public async Task<int> RecordSignInFailureAsync(string email, string? accountId, DateTimeOffset now, DateTimeOffset pruneBefore, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await ExecuteAsync(connection, tx, "DELETE FROM signin_failures WHERE last_failed_at < @before;", ct, ("@before", pruneBefore.ToUnixTimeMilliseconds()));
        await ExecuteAsync(connection, tx, """
            INSERT INTO signin_failures (email, failures, last_failed_at) VALUES (@email, 1, @now)
            ON CONFLICT (email) DO UPDATE SET failures = failures + 1, last_failed_at = @now;
            """, ct, ("@email", email), ("@now", now.ToUnixTimeMilliseconds()));
        int failures;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "SELECT failures FROM signin_failures WHERE email = @email;";
            command.Parameters.AddWithValue("@email", email);
            failures = Convert.ToInt32(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
        }
        await AuditAsync(connection, tx, now, AuditActions.SignInFailed, accountId, email, null, ct);
        tx.Commit();
        return failures;
    }

    /// <summary>Forgets the failed sign-ins of <paramref name="email"/> (after a successful one).</summary>
    public async Task ClearSignInFailuresAsync(string email, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await ExecuteAsync(connection, tx, "DELETE FROM signin_failures WHERE email = @email;", ct, ("@email", email));
        tx.Commit();
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
            ("@at", at.ToUnixTimeMilliseconds()), ("@action", action), ("@account_id", accountId), ("@target", target), ("@detail", detail));

    // ---- signing keys and secrets -----------------------------------------------------------

    /// <summary>
    /// Runs one step of the signing-key schedule in one immediate transaction (so concurrent
    /// starts and the rotation job agree): reads every stored key, lets <paramref name="plan"/>
    /// decide what to add, retire and delete, applies it, and returns the keys that remain,
    /// oldest activation first.
    /// </summary>
    public async Task<IReadOnlyList<SigningKeyRecord>> UpdateSigningKeysAsync(
        Func<IReadOnlyList<SigningKeyRecord>, SigningKeyChanges> plan, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        var keys = new List<SigningKeyRecord>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "SELECT kid, private_key, created_at, activates_at, retired_at FROM signing_keys ORDER BY activates_at, created_at, kid;";
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                keys.Add(new SigningKeyRecord(reader.GetString(0), (byte[])reader.GetValue(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)), reader.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4))));
            }
        }
        var changes = plan(keys);
        foreach (var key in changes.Add)
        {
            await ExecuteAsync(connection, tx, "INSERT INTO signing_keys (kid, private_key, created_at, activates_at) VALUES (@kid, @key, @at, @activates);", ct,
                ("@kid", key.Kid), ("@key", key.PrivateKey), ("@at", key.CreatedAt.ToUnixTimeMilliseconds()), ("@activates", key.ActivatesAt.ToUnixTimeMilliseconds()));
        }
        foreach (var (kid, retiredAt) in changes.Retire)
        {
            await ExecuteAsync(connection, tx, "UPDATE signing_keys SET retired_at = @at WHERE kid = @kid;", ct, ("@kid", kid), ("@at", retiredAt.ToUnixTimeMilliseconds()));
        }
        foreach (var kid in changes.Delete)
        {
            await ExecuteAsync(connection, tx, "DELETE FROM signing_keys WHERE kid = @kid;", ct, ("@kid", kid));
        }
        tx.Commit();
        var retired = changes.Retire.ToDictionary(r => r.Kid, r => r.RetiredAt, StringComparer.Ordinal);
        return [.. keys
            .Where(k => !changes.Delete.Contains(k.Kid, StringComparer.Ordinal))
            .Select(k => retired.TryGetValue(k.Kid, out var at) ? k with { RetiredAt = at } : k)
            .Concat(changes.Add)
            .OrderBy(k => k.ActivatesAt).ThenBy(k => k.CreatedAt).ThenBy(k => k.Kid, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Passes every stored secret (signing keys' private keys, generated secrets) to
    /// <paramref name="reseal"/> with its purpose, stores what it returns instead (null: keep),
    /// in one immediate transaction, and returns how many values changed.
    /// </summary>
    public async Task<int> ResealSecretsAsync(Func<string, byte[], byte[]?> reseal, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        var changed = 0;
        foreach (var (table, idColumn, valueColumn, purposePrefix) in new[]
        {
            ("signing_keys", "kid", "private_key", SigningKeyPurpose),
            ("secrets", "name", "value", SecretPurpose),
        })
        {
            var rows = new List<(string Id, byte[] Value)>();
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = tx;
                command.CommandText = $"SELECT {idColumn}, {valueColumn} FROM {table};";
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    rows.Add((reader.GetString(0), (byte[])reader.GetValue(1)));
                }
            }
            foreach (var (id, value) in rows)
            {
                if (reseal(purposePrefix + id, value) is { } replacement)
                {
                    await ExecuteAsync(connection, tx, $"UPDATE {table} SET {valueColumn} = @value WHERE {idColumn} = @id;", ct,
                        ("@value", replacement), ("@id", id));
                    changed++;
                }
            }
        }
        tx.Commit();
        return changed;
    }

    /// <summary>Purpose (associated data) of a signing key's sealed private key, followed by its kid.</summary>
    public const string SigningKeyPurpose = "identity/signing-key/";

    /// <summary>Purpose (associated data) of a generated secret's sealed value, followed by its name.</summary>
    public const string SecretPurpose = "identity/secret/";

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
            ("@name", name), ("@value", value), ("@at", now.ToUnixTimeMilliseconds()));
        tx.Commit();
        return (value, true);
    }

    // ---- refresh tokens -------------------------------------------------------------------

    /// <summary>Stores the first token of a new family, which ends at <paramref name="sessionExpiresAt"/> whatever the rotations.</summary>
    public async Task InsertRefreshTokenAsync(string tokenHash, string familyId, string accountId, DateTimeOffset now, DateTimeOffset expiresAt,
        DateTimeOffset sessionExpiresAt, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await InsertRefreshTokenAsync(connection, tx, tokenHash, familyId, accountId, now, expiresAt, sessionExpiresAt.ToUnixTimeMilliseconds(), ct);
        tx.Commit();
    }

    /// <summary>
    /// Revokes the family of the refresh token hashed as <paramref name="presentedHash"/> (any of its
    /// tokens, used or not) and audits it; null when no such token exists, else the account.
    /// </summary>
    public async Task<string?> RevokeRefreshFamilyAsync(string presentedHash, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        string familyId, accountId;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "SELECT family_id, account_id FROM refresh_tokens WHERE token_hash = @hash;";
            command.Parameters.AddWithValue("@hash", presentedHash);
            await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, ct);
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }
            (familyId, accountId) = (reader.GetString(0), reader.GetString(1));
        }
        var revoked = await ExecuteAsync(connection, tx,
            "UPDATE refresh_tokens SET revoked_at = @now WHERE family_id = @family AND revoked_at IS NULL;", ct,
            ("@now", now.ToUnixTimeMilliseconds()), ("@family", familyId));
        if (revoked > 0)
        {
            await AuditAsync(connection, tx, now, AuditActions.SignedOut, accountId, familyId, $"revoked={revoked}", ct);
        }
        tx.Commit();
        return accountId;
    }

    /// <summary>Revokes every refresh token of the account and audits it; returns how many sessions were still live.</summary>
    public async Task<int> RevokeAllSessionsAsync(string accountId, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        var families = await RevokeAccountSessionsAsync(connection, tx, accountId, now, ct);
        await AuditAsync(connection, tx, now, AuditActions.SignedOutEverywhere, accountId, accountId, $"sessions_ended={families}", ct);
        tx.Commit();
        return families;
    }

    private static async Task<int> RevokeAccountSessionsAsync(SqliteConnection connection, SqliteTransaction tx, string accountId,
        DateTimeOffset now, CancellationToken ct)
    {
        int live;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            // A live session is a family with an unused, unrevoked, unexpired token.
            command.CommandText = """
                SELECT COUNT(DISTINCT family_id) FROM refresh_tokens
                WHERE account_id = @account AND revoked_at IS NULL AND used_at IS NULL AND expires_at > @now;
                """;
            command.Parameters.AddWithValue("@account", accountId);
            command.Parameters.AddWithValue("@now", now.ToUnixTimeMilliseconds());
            live = Convert.ToInt32(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
        }
        await ExecuteAsync(connection, tx,
            "UPDATE refresh_tokens SET revoked_at = @now WHERE account_id = @account AND revoked_at IS NULL;", ct,
            ("@now", now.ToUnixTimeMilliseconds()), ("@account", accountId));
        return live;
    }

    /// <summary>
    /// Uses the refresh token hashed as <paramref name="presentedHash"/>: when it is live, marks it
    /// used and stores <paramref name="nextHash"/> in the same family, expiring at
    /// <paramref name="nextExpiresAt"/> or at the family's absolute end if that comes first
    /// (returned as <c>ExpiresAt</c>); when it was already used,
    /// revokes the whole family and audits the reuse. One immediate transaction, so two concurrent
    /// presentations of one token cannot both rotate.
    /// </summary>
    public async Task<(RefreshOutcome Outcome, string? AccountId, DateTimeOffset ExpiresAt)> RotateRefreshTokenAsync(
        string presentedHash, string nextHash, DateTimeOffset now, DateTimeOffset nextExpiresAt, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        string familyId, accountId;
        long expiresAt, sessionExpiresAt;
        bool used, revoked;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = """
                SELECT family_id, account_id, expires_at, used_at IS NOT NULL, revoked_at IS NOT NULL, session_expires_at
                FROM refresh_tokens WHERE token_hash = @hash;
                """;
            command.Parameters.AddWithValue("@hash", presentedHash);
            await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, ct);
            if (!await reader.ReadAsync(ct))
            {
                return (RefreshOutcome.Invalid, null, default);
            }
            (familyId, accountId, expiresAt, used, revoked, sessionExpiresAt) =
                (reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetBoolean(3), reader.GetBoolean(4), reader.GetInt64(5));
        }

        if (revoked || expiresAt <= now.ToUnixTimeMilliseconds() || sessionExpiresAt <= now.ToUnixTimeMilliseconds())
        {
            return (RefreshOutcome.Invalid, accountId, default);
        }
        if (used)
        {
            // Someone holds a copy of a token that was already exchanged: the legitimate client or
            // the thief, we cannot tell which, so every token of the family stops working.
            var revokedCount = await ExecuteAsync(connection, tx,
                "UPDATE refresh_tokens SET revoked_at = @now WHERE family_id = @family AND revoked_at IS NULL;", ct,
                ("@now", now.ToUnixTimeMilliseconds()), ("@family", familyId));
            await AuditAsync(connection, tx, now, AuditActions.RefreshReuse, accountId, familyId, $"revoked={revokedCount}", ct);
            tx.Commit();
            return (RefreshOutcome.ReuseDetected, accountId, default);
        }

        await ExecuteAsync(connection, tx, "UPDATE refresh_tokens SET used_at = @now WHERE token_hash = @hash;", ct,
            ("@now", now.ToUnixTimeMilliseconds()), ("@hash", presentedHash));
        var next = nextExpiresAt <= DateTimeOffset.FromUnixTimeMilliseconds(sessionExpiresAt) ? nextExpiresAt : DateTimeOffset.FromUnixTimeMilliseconds(sessionExpiresAt);
        await InsertRefreshTokenAsync(connection, tx, nextHash, familyId, accountId, now, next, sessionExpiresAt, ct);
        tx.Commit();
        return (RefreshOutcome.Rotated, accountId, next);
    }

    private static Task InsertRefreshTokenAsync(SqliteConnection connection, SqliteTransaction tx, string tokenHash, string familyId,
        string accountId, DateTimeOffset now, DateTimeOffset expiresAt, long sessionExpiresAtMs, CancellationToken ct) =>
        ExecuteAsync(connection, tx, """
            INSERT INTO refresh_tokens (token_hash, family_id, account_id, created_at, expires_at, session_expires_at)
            VALUES (@hash, @family, @account, @now, @expires, @session_expires);
            """, ct,
            ("@hash", tokenHash), ("@family", familyId), ("@account", accountId), ("@now", now.ToUnixTimeMilliseconds()), ("@expires", expiresAt.ToUnixTimeMilliseconds()),
            ("@session_expires", sessionExpiresAtMs));

    // ---- API keys -------------------------------------------------------------------------

    /// <summary>
    /// Stores the key unless the account already holds <paramref name="maxLiveKeys"/> live (neither
    /// revoked nor expired) keys; the count and the insert share one immediate transaction, so
    /// concurrent creations cannot overshoot. False when the cap is reached.
    /// </summary>
    public async Task<bool> TryCreateApiKeyAsync(ApiKeyRecord key, string keyHash, int maxLiveKeys, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        using var tx = connection.BeginTransaction();
        await using (var count = connection.CreateCommand())
        {
            count.Transaction = tx;
            count.CommandText = "SELECT COUNT(*) FROM api_keys WHERE account_id = @account AND revoked_at IS NULL AND expires_at > @now;";
            count.Parameters.AddWithValue("@account", key.AccountId);
            count.Parameters.AddWithValue("@now", key.CreatedAt.ToUnixTimeMilliseconds());
            if (Convert.ToInt64(await count.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture) >= maxLiveKeys)
            {
                return false;
            }
        }
        await InsertApiKeyAsync(connection, tx, key, keyHash, ct);
        tx.Commit();
        return true;
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
            ("@expires", shortened.ToUnixTimeMilliseconds()), ("@id", keyId));
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
            ("@scopes", string.Join(' ', key.Scopes)), ("@created", key.CreatedAt.ToUnixTimeMilliseconds()), ("@expires", key.ExpiresAt.ToUnixTimeMilliseconds()),
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

    /// <summary>
    /// One page of the account's keys, newest first (ties by id), after the key at
    /// <paramref name="after"/> (its creation time and id); the extra row read tells whether more follow.
    /// </summary>
    public async Task<(IReadOnlyList<ApiKeyRecord> Page, bool More)> ListApiKeysAsync(string accountId, int pageSize,
        (long CreatedAt, string Id)? after, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {ApiKeyColumns} FROM api_keys
            WHERE account_id = @account
              AND (@after_at IS NULL OR created_at < @after_at OR (created_at = @after_at AND id > @after_id))
            ORDER BY created_at DESC, id
            LIMIT @limit;
            """;
        command.Parameters.AddWithValue("@account", accountId);
        command.Parameters.AddWithValue("@after_at", after is { } a ? a.CreatedAt : DBNull.Value);
        command.Parameters.AddWithValue("@after_id", after is { } b ? b.Id : DBNull.Value);
        command.Parameters.AddWithValue("@limit", pageSize + 1);
        var keys = new List<ApiKeyRecord>(pageSize + 1);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            keys.Add(ReadApiKey(reader));
        }
        var more = keys.Count > pageSize;
        if (more)
        {
            keys.RemoveAt(keys.Count - 1);
        }
        return (keys, more);
    }

    /// <summary>
    /// One page of the keys that expire in (<paramref name="afterMs"/>, <paramref name="beforeMs"/>],
    /// neither revoked nor rotated (a successor exists), by expiry then id, after the key at
    /// <paramref name="cursor"/>; the extra row read tells whether more follow.
    /// </summary>
    public async Task<(IReadOnlyList<ExpiringApiKeyRecord> Page, bool More)> ListExpiringApiKeysAsync(long afterMs, long beforeMs,
        (long ExpiresAt, string Id)? cursor, int pageSize, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        // api_keys_expiry serves the range; api_keys_rotated_from the successor check.
        command.CommandText = """
            SELECT k.id, k.account_id, k.name, k.prefix, k.expires_at FROM api_keys k
            WHERE k.revoked_at IS NULL AND k.expires_at > @after AND k.expires_at <= @before
              AND (@cursor_at IS NULL OR k.expires_at > @cursor_at OR (k.expires_at = @cursor_at AND k.id > @cursor_id))
              AND NOT EXISTS (SELECT 1 FROM api_keys s WHERE s.rotated_from = k.id)
            ORDER BY k.expires_at, k.id
            LIMIT @limit;
            """;
        command.Parameters.AddWithValue("@after", afterMs);
        command.Parameters.AddWithValue("@before", beforeMs);
        command.Parameters.AddWithValue("@cursor_at", cursor is { } a ? a.ExpiresAt : DBNull.Value);
        command.Parameters.AddWithValue("@cursor_id", cursor is { } b ? b.Id : DBNull.Value);
        command.Parameters.AddWithValue("@limit", pageSize + 1);
        var keys = new List<ExpiringApiKeyRecord>(pageSize + 1);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            keys.Add(new ExpiringApiKeyRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4)));
        }
        var more = keys.Count > pageSize;
        if (more)
        {
            keys.RemoveAt(keys.Count - 1);
        }
        return (keys, more);
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
            ("@now", now.ToUnixTimeMilliseconds()), ("@id", keyId), ("@account", accountId));
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
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
        reader.IsDBNull(7) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
        reader.GetString(8).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        reader.GetBoolean(9),
        reader.IsDBNull(10) ? null : reader.GetString(10),
        reader.IsDBNull(11) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(11)));

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
}
