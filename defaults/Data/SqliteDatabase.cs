using System.Data;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Veil.ServiceDefaults.Data;

/// <summary>Settings for one service's SQLite file, bound from <c>Veil:Sqlite:{name}</c>.</summary>
public sealed class SqliteSettings
{
    /// <summary>Full connection string; when empty the file is <c>{DataDirectory}/{name}.db</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// <c>FULL</c> where money, keys or usage live (an fsync per commit); <c>NORMAL</c> may lose the
    /// last transactions on power loss but never corrupts.
    /// </summary>
    public string Synchronous { get; set; } = "FULL";

    /// <summary>How long a writer waits for the lock, in seconds (both busy_timeout and the command timeout).</summary>
    public int BusyTimeoutSeconds { get; set; } = 5;
}

/// <summary>
/// One service's SQLite database: opens connections with WAL and the pragmas Veil relies on,
/// and applies the versioned <c>.sql</c> scripts embedded in the service at start.
/// A fresh connection per unit of work; connections are pooled by Microsoft.Data.Sqlite.
/// </summary>
public sealed partial class SqliteDatabase(string name, string connectionString, SqliteSettings settings, ILogger<SqliteDatabase> logger)
{
    /// <summary>The database name ("identity", "catalog", ...).</summary>
    public string Name { get; } = name;

    /// <summary>The connection string used for every connection.</summary>
    public string ConnectionString { get; } = connectionString;

    /// <summary>Opens a connection with foreign keys on, the busy timeout and the synchronous level set.</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        using var pragma = connection.CreateCommand();
        pragma.CommandText = $"PRAGMA foreign_keys=ON; PRAGMA busy_timeout={settings.BusyTimeoutSeconds * 1000}; PRAGMA synchronous={settings.Synchronous};";
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }

    /// <summary>
    /// Applies the embedded scripts named <c>NNNN_description.sql</c> whose number is above
    /// <c>PRAGMA user_version</c>, each in its own immediate transaction, recording the version.
    /// </summary>
    public void Migrate(Assembly scripts)
    {
        using var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        using (var wal = connection.CreateCommand())
        {
            // WAL is a property of the file: set once, kept across connections and restarts.
            wal.CommandText = "PRAGMA journal_mode=WAL;";
            wal.ExecuteNonQuery();
        }

        using var versionCommand = connection.CreateCommand();
        versionCommand.CommandText = "PRAGMA user_version;";
        var current = Convert.ToInt32(versionCommand.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);

        var pending = scripts.GetManifestResourceNames()
            .Select(resource => (resource, match: ScriptName().Match(resource)))
            .Where(s => s.match.Success)
            .Select(s => (s.resource, version: int.Parse(s.match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)))
            .Where(s => s.version > current)
            .OrderBy(s => s.version)
            .ToList();

        foreach (var (resource, version) in pending)
        {
            using var stream = scripts.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            var sql = reader.ReadToEnd();
            using var transaction = connection.BeginTransaction(IsolationLevel.Serializable);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql + $"\nPRAGMA user_version={version};";
            command.ExecuteNonQuery();
            transaction.Commit();
            SqliteLog.MigrationApplied(logger, Name, version, resource);
        }
    }

    /// <summary>
    /// Rewrites the file (VACUUM) and empties the WAL into it (checkpoint TRUNCATE), so values that
    /// were replaced or deleted — a plaintext secret that has just been sealed — leave no copy in
    /// free pages or in the -wal file. For rare maintenance at start, not for the request path.
    /// </summary>
    public async Task CompactAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [GeneratedRegex(@"\.(\d{4})_[A-Za-z0-9_]+\.sql$")]
    private static partial Regex ScriptName();
}

/// <summary>Readiness: the database answers a trivial query.</summary>
internal sealed class SqliteHealthCheck(SqliteDatabase database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1;";
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (SqliteException ex)
        {
            return HealthCheckResult.Unhealthy($"SQLite database '{database.Name}' is not answering.", ex);
        }
    }
}

internal static partial class SqliteLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Database {Database}: applied schema version {Version} ({Script})")]
    public static partial void MigrationApplied(ILogger logger, string database, int version, string script);
}
