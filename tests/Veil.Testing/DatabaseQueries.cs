using Veil.ServiceDefaults.Data;
using Xunit;

namespace Veil.Testing;

/// <summary>Reads a running service's own SQLite file, to assert what it stored.</summary>
public static class DatabaseQueries
{
    /// <summary>Rows of <paramref name="sql"/> (with named <paramref name="parameters"/>) as the service left them; NULL as null.</summary>
    public static async Task<List<object?[]>> QueryAsync(this SqliteDatabase database, string sql, params (string Name, object Value)[] parameters)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        var rows = new List<object?[]>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }
            rows.Add(row);
        }
        return rows;
    }
}
