using System.Globalization;
using Microsoft.Data.Sqlite;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Data;

namespace Veil.Catalog.Data;

/// <summary>
/// The configurable part of an API; one immutable row of <c>api_versions</c>. The policies
/// (docs/policies.md) hold sealed secrets: <paramref name="Credentials"/> is the JSON of
/// <see cref="StoredCredential"/>s, the signing secrets are sealed strings ('' for none), and
/// <paramref name="PreviousSigningExpiresAt"/> (unix ms) ends the previous secret's overlap.
/// <paramref name="Policies"/> is the JSON of the gateway policies (<see cref="StoredPolicies"/>).
/// </summary>
public sealed record ApiConfig(string Name, string Description, string UpstreamUrl, int TimeoutMs, string OpenApiDocument,
    string Credentials = "[]", string SigningSecret = "", string PreviousSigningSecret = "", long PreviousSigningExpiresAt = 0,
    string Policies = StoredPolicies.None);

/// <summary>An API with the config of its current version.</summary>
public sealed record ApiRecord(string Id, string Slug, string ProviderId, long CurrentVersion, ApiConfig Config, long CreatedAt, long UpdatedAt);

/// <summary>One stored version of an API's config.</summary>
public sealed record ApiVersionRecord(long Version, ApiConfig Config, string CreatedBy, long CreatedAt);

/// <summary>
/// The result of a write: the API as stored and, when anything changed, the gateway config after it.
/// <paramref name="VersionLimitReached"/>: nothing was stored because the API already has the most versions allowed.
/// </summary>
public sealed record ApiChange(ApiRecord Api, GatewayConfig? Gateway, bool VersionLimitReached = false, ApiRecord? Before = null);

/// <summary>
/// The catalog's SQLite store. Every change inserts a new <c>api_versions</c> row, moves the
/// <c>apis.current_version</c> pointer and bumps the gateway revision in one immediate
/// transaction, and reads the resulting routing table inside that transaction so the snapshot
/// published to watchers is exactly what was committed.
/// </summary>
public sealed class CatalogStore(SqliteDatabase database, TimeProvider time, ApiSecrets secrets)
{
    /// <summary>Ordering by slug with a keyset cursor keeps pages stable while APIs are added.</summary>
    private const string SelectCurrent = """
        SELECT a.id, a.slug, a.provider_id, a.current_version, a.created_at, a.updated_at,
               v.name, v.description, v.upstream_url, v.timeout_ms, {0},
               v.upstream_credentials, v.signing_secret, v.previous_signing_secret, v.previous_signing_secret_expires_at, v.policies
        FROM apis a
        JOIN api_versions v ON v.api_id = a.id AND v.version = a.current_version

        """;

    /// <summary>
    /// Stores a new API at version 1. <c>Change</c> is null when the slug is taken or, with
    /// <c>LimitReached</c>, when the provider already owns <paramref name="maxApisPerProvider"/> APIs
    /// (counted in the same immediate transaction, so concurrent creations cannot overshoot).
    /// With <paramref name="dryRun"/> every check runs in the same transaction, which is then rolled
    /// back: nothing is stored and <c>Gateway</c> is null.
    /// </summary>
    public async Task<(ApiChange? Change, bool LimitReached)> CreateAsync(string id, string slug, string providerId, ApiConfig config, int maxApisPerProvider,
        CancellationToken cancellationToken, bool dryRun = false)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var api = new ApiRecord(id, slug, providerId, 1, config, now, now);

        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using (var count = connection.CreateCommand())
        {
            count.Transaction = transaction;
            count.CommandText = "SELECT COUNT(*) FROM apis WHERE provider_id = @provider_id;";
            count.Parameters.AddWithValue("@provider_id", providerId);
            if (Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture) >= maxApisPerProvider)
            {
                return (null, true);
            }
        }
        try
        {
            await ExecuteAsync(connection, transaction, """
                INSERT INTO apis (id, slug, provider_id, current_version, search_text, created_at, updated_at)
                VALUES (@id, @slug, @provider_id, 1, @search_text, @now, @now);
                """, cancellationToken,
                ("@id", api.Id), ("@slug", slug), ("@provider_id", providerId), ("@search_text", SearchText(slug, config)), ("@now", now));
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == 2067 /* SQLITE_CONSTRAINT_UNIQUE */)
        {
            return (null, false);
        }
        await InsertVersionAsync(connection, transaction, api.Id, 1, config, providerId, now, cancellationToken);
        if (dryRun)
        {
            await transaction.RollbackAsync(cancellationToken);
            return (new ApiChange(api, null), false);
        }
        var gateway = await BumpRevisionAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (new ApiChange(api, gateway), false);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the current config of the API named by id or slug and,
    /// when the result differs, stores it as the next version. <c>Change</c> is null when the API
    /// does not exist or <paramref name="ownerId"/> (null for admins) does not own it, or, with
    /// <c>LimitReached</c>, when it already has <paramref name="maxVersions"/> versions. <c>Before</c>
    /// is the API as it was. With <paramref name="dryRun"/> nothing is stored and <c>Gateway</c> is null.
    /// </summary>
    public async Task<ApiChange?> UpdateAsync(string idOrSlug, string? ownerId, string changedBy, Func<ApiRecord, ApiConfig> change, long maxVersions,
        CancellationToken cancellationToken, bool dryRun = false)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var current = await FindAsync(connection, transaction, idOrSlug, ownerId, withDocument: true, cancellationToken);
        if (current is null)
        {
            return null;
        }
        var config = change(current);
        if (config == current.Config)
        {
            // Nothing changed: no version, no revision, nothing for the edge to apply.
            return new ApiChange(current, null, Before: current);
        }

        if (current.CurrentVersion >= maxVersions)
        {
            // Versions are numbered 1, 2, … and never deleted: the current number is the count.
            return new ApiChange(current, null, VersionLimitReached: true, Before: current);
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var version = current.CurrentVersion + 1;
        if (dryRun)
        {
            return new ApiChange(current with { CurrentVersion = version, Config = config, UpdatedAt = now }, null, Before: current);
        }
        await InsertVersionAsync(connection, transaction, current.Id, version, config, changedBy, now, cancellationToken);
        await ExecuteAsync(connection, transaction, """
            UPDATE apis SET current_version = @version, search_text = @search_text, updated_at = @now WHERE id = @id;
            """, cancellationToken,
            ("@id", current.Id), ("@version", version), ("@search_text", SearchText(current.Slug, config)), ("@now", now));
        var gateway = await BumpRevisionAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new ApiChange(current with { CurrentVersion = version, Config = config, UpdatedAt = now }, gateway, Before: current);
    }

    /// <summary>The API with this id ("api_…") or slug, or null.</summary>
    public async Task<ApiRecord?> FindAsync(string idOrSlug, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await FindAsync(connection, null, idOrSlug, ownerId: null, withDocument: true, cancellationToken);
    }

    /// <summary>
    /// One page of APIs ordered by slug, after <paramref name="afterSlug"/>. OpenAPI documents are
    /// left out (up to 1 MiB each; GetApi returns them).
    /// </summary>
    public async Task<(IReadOnlyList<ApiRecord> Page, bool More)> ListAsync(int pageSize, string? afterSlug, string? query, string? providerId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = string.Format(CultureInfo.InvariantCulture, SelectCurrent, "''") + """
            WHERE (@after IS NULL OR a.slug > @after)
              AND (@provider_id IS NULL OR a.provider_id = @provider_id)
              AND (@query IS NULL OR instr(a.search_text, @query) > 0)
            ORDER BY a.slug
            LIMIT @limit;
            """;
        Bind(command, ("@after", afterSlug), ("@provider_id", providerId),
            ("@query", string.IsNullOrEmpty(query) ? null : query.ToLowerInvariant()), ("@limit", pageSize + 1));
        var page = new List<ApiRecord>(pageSize + 1);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            page.Add(ReadApi(reader));
        }
        var more = page.Count > pageSize;
        if (more)
        {
            page.RemoveAt(page.Count - 1);
        }
        return (page, more);
    }

    /// <summary>
    /// One page of the API's versions, newest first, before version <paramref name="beforeVersion"/>
    /// (null: from the newest), without their OpenAPI documents (up to 1 MiB each; <see cref="GetVersionAsync"/>
    /// returns one). Null when the API does not exist or <paramref name="ownerId"/> (null for admins) does not own it.
    /// </summary>
    public async Task<(ApiRecord Api, IReadOnlyList<ApiVersionRecord> Page, bool More)?> ListVersionsAsync(
        string idOrSlug, string? ownerId, int pageSize, long? beforeVersion, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        // One read transaction: the API and its history are one consistent snapshot.
        await using var transaction = connection.BeginTransaction(deferred: true);
        var api = await FindAsync(connection, transaction, idOrSlug, ownerId, withDocument: false, cancellationToken);
        if (api is null)
        {
            return null;
        }
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            SELECT version, name, description, upstream_url, timeout_ms, '', created_by, created_at,
                   upstream_credentials, signing_secret, previous_signing_secret, previous_signing_secret_expires_at, policies
            FROM api_versions
            WHERE api_id = @id AND (@before IS NULL OR version < @before)
            ORDER BY version DESC
            LIMIT @limit;
            """;
        Bind(command, ("@id", api.Id), ("@before", beforeVersion), ("@limit", pageSize + 1));
        var versions = new List<ApiVersionRecord>(pageSize + 1);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add(ReadVersion(reader));
        }
        var more = versions.Count > pageSize;
        if (more)
        {
            versions.RemoveAt(versions.Count - 1);
        }
        return (api, versions, more);
    }

    /// <summary>
    /// One version of the API with its OpenAPI document; null when the API does not exist,
    /// <paramref name="ownerId"/> (null for admins) does not own it, or it has no such version.
    /// </summary>
    public async Task<(ApiRecord Api, ApiVersionRecord Version)?> GetVersionAsync(string idOrSlug, string? ownerId, long version, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: true);
        var api = await FindAsync(connection, transaction, idOrSlug, ownerId, withDocument: false, cancellationToken);
        if (api is null)
        {
            return null;
        }
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            SELECT version, name, description, upstream_url, timeout_ms, openapi_document, created_by, created_at,
                   upstream_credentials, signing_secret, previous_signing_secret, previous_signing_secret_expires_at, policies
            FROM api_versions WHERE api_id = @id AND version = @version;
            """;
        Bind(command, ("@id", api.Id), ("@version", version));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (api, ReadVersion(reader)) : null;
    }

    private static ApiVersionRecord ReadVersion(SqliteDataReader reader) => new(
        reader.GetInt64(0),
        new ApiConfig(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4), reader.GetString(5),
            reader.GetString(8), reader.GetString(9), reader.GetString(10), reader.GetInt64(11), reader.GetString(12)),
        reader.GetString(6),
        reader.GetInt64(7));

    /// <summary>The gateway config as committed now.</summary>
    public async Task<GatewayConfig> LoadGatewayConfigAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: true);
        var revision = await ScalarAsync(connection, transaction, "SELECT revision FROM gateway_revision WHERE id = 1;", cancellationToken);
        return await ReadGatewayConfigAsync(connection, transaction, revision, cancellationToken);
    }

    /// <summary>
    /// The earliest end of a signing-secret overlap still to come among the current versions
    /// (unix ms), or null: when it passes, the gateway config changes without a new version.
    /// </summary>
    public async Task<long?> NextSigningOverlapEndAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT MIN(v.previous_signing_secret_expires_at)
            FROM apis a
            JOIN api_versions v ON v.api_id = a.id AND v.version = a.current_version
            WHERE v.previous_signing_secret <> '' AND v.previous_signing_secret_expires_at > @now;
            """;
        Bind(command, ("@now", time.GetUtcNow().ToUnixTimeMilliseconds()));
        return await command.ExecuteScalarAsync(cancellationToken) is long next ? next : null;
    }

    /// <summary>A new gateway revision with no config change: an overlap ended, so the edges drop a previous signing secret.</summary>
    public async Task<GatewayConfig> BumpRevisionAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var gateway = await BumpRevisionAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return gateway;
    }

    private async Task<GatewayConfig> BumpRevisionAsync(SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        var revision = await ScalarAsync(connection, transaction,
            "UPDATE gateway_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision;", cancellationToken);
        return await ReadGatewayConfigAsync(connection, transaction, revision, cancellationToken);
    }

    /// <summary>
    /// The routing table with each API's policies, secrets opened for the edges: credentials in
    /// clear and the signing keys, the previous one only until its overlap ends (catalog's clock).
    /// </summary>
    private async Task<GatewayConfig> ReadGatewayConfigAsync(SqliteConnection connection, SqliteTransaction transaction, long revision, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var config = new GatewayConfig { Revision = revision };
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            SELECT a.id, a.slug, v.upstream_url, v.timeout_ms, a.current_version, a.provider_id,
                   v.upstream_credentials, v.signing_secret, v.previous_signing_secret, v.previous_signing_secret_expires_at, v.policies
            FROM apis a
            JOIN api_versions v ON v.api_id = a.id AND v.version = a.current_version
            ORDER BY a.slug;
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var route = new GatewayRoute
            {
                ApiId = reader.GetString(0),
                Slug = reader.GetString(1),
                UpstreamUrl = reader.GetString(2),
                TimeoutMs = reader.GetInt32(3),
                Version = reader.GetInt64(4),
                ProviderId = reader.GetString(5),
            };
            if (reader.GetString(10) is not StoredPolicies.None and var policies)
            {
                route.Policies = StoredPolicies.Read(policies);
            }
            route.UpstreamCredentials.AddRange(secrets.Open(route.ApiId, reader.GetString(6)));
            if (reader.GetString(7) is { Length: > 0 } current)
            {
                route.SigningKeys.Add(Google.Protobuf.ByteString.CopyFrom(secrets.OpenSigningKey(route.ApiId, current)));
                if (reader.GetString(8) is { Length: > 0 } previous && reader.GetInt64(9) > now)
                {
                    route.SigningKeys.Add(Google.Protobuf.ByteString.CopyFrom(secrets.OpenSigningKey(route.ApiId, previous)));
                }
            }
            config.Routes.Add(route);
        }
        return config;
    }

    private static async Task<ApiRecord?> FindAsync(SqliteConnection connection, SqliteTransaction? transaction, string idOrSlug, string? ownerId, bool withDocument, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        // Ids start with "api_" and slugs cannot contain '_', so one value names one API either way.
        // Ownership is part of the query: someone else's API is simply not found.
        command.CommandText = string.Format(CultureInfo.InvariantCulture, SelectCurrent, withDocument ? "v.openapi_document" : "''") + """
            WHERE (a.id = @key OR a.slug = @key)
              AND (@owner_id IS NULL OR a.provider_id = @owner_id);
            """;
        Bind(command, ("@key", idOrSlug), ("@owner_id", ownerId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadApi(reader) : null;
    }

    private static ApiRecord ReadApi(SqliteDataReader reader) => new(
        Id: reader.GetString(0),
        Slug: reader.GetString(1),
        ProviderId: reader.GetString(2),
        CurrentVersion: reader.GetInt64(3),
        Config: new ApiConfig(reader.GetString(6), reader.GetString(7), reader.GetString(8), reader.GetInt32(9), reader.GetString(10),
            reader.GetString(11), reader.GetString(12), reader.GetString(13), reader.GetInt64(14), reader.GetString(15)),
        CreatedAt: reader.GetInt64(4),
        UpdatedAt: reader.GetInt64(5));

    private static Task InsertVersionAsync(SqliteConnection connection, SqliteTransaction transaction, string apiId, long version, ApiConfig config, string createdBy, long now, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, transaction, """
            INSERT INTO api_versions (api_id, version, name, description, upstream_url, timeout_ms, openapi_document, created_by, created_at,
                                      upstream_credentials, signing_secret, previous_signing_secret, previous_signing_secret_expires_at, policies)
            VALUES (@api_id, @version, @name, @description, @upstream_url, @timeout_ms, @openapi_document, @created_by, @now,
                    @credentials, @signing_secret, @previous_signing_secret, @previous_expires_at, @policies);
            """, cancellationToken,
            ("@api_id", apiId), ("@version", version), ("@name", config.Name), ("@description", config.Description),
            ("@upstream_url", config.UpstreamUrl), ("@timeout_ms", config.TimeoutMs), ("@openapi_document", config.OpenApiDocument),
            ("@created_by", createdBy), ("@now", now), ("@credentials", config.Credentials), ("@signing_secret", config.SigningSecret),
            ("@previous_signing_secret", config.PreviousSigningSecret), ("@previous_expires_at", config.PreviousSigningExpiresAt),
            ("@policies", config.Policies));

    private static string SearchText(string slug, ApiConfig config) =>
        string.Join('\n', slug, config.Name, config.Description).ToLowerInvariant();

    private static async Task ExecuteAsync(SqliteConnection connection, SqliteTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        Bind(command, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<long> ScalarAsync(SqliteConnection connection, SqliteTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static void Bind(SqliteCommand command, params (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }
}
