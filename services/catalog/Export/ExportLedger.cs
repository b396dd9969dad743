using Veil.ServiceDefaults.Data;

namespace Veil.Catalog.Export;

/// <summary>Which version of each API the bucket holds (<c>api_exports</c>), and which APIs are behind.</summary>
internal sealed class ExportLedger(SqliteDatabase database, TimeProvider time)
{
    /// <summary>The ids of the APIs whose current version is not exported yet, oldest change first.</summary>
    public async Task<IReadOnlyList<string>> BehindAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT a.id FROM apis a
            LEFT JOIN api_exports e ON e.api_id = a.id
            WHERE e.exported_version IS NULL OR e.exported_version < a.current_version
            ORDER BY a.updated_at, a.id
            """;
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    /// <summary>Records that the bucket holds <paramref name="apiId"/> up to <paramref name="version"/> (never lowers it).</summary>
    public async Task MarkAsync(string apiId, long version, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO api_exports (api_id, exported_version, exported_at) VALUES (@api_id, @version, @now)
            ON CONFLICT (api_id) DO UPDATE SET exported_version = max(exported_version, excluded.exported_version), exported_at = excluded.exported_at
            """;
        command.Parameters.AddWithValue("@api_id", apiId);
        command.Parameters.AddWithValue("@version", version);
        command.Parameters.AddWithValue("@now", time.GetUtcNow().ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
