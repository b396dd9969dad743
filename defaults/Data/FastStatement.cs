using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Veil.ServiceDefaults.Data;

/// <summary>
/// A prepared statement bound by position and stepped through the native SQLite API, for hot
/// paths: usage's ingest runs a few thousand statements per batch, and Microsoft.Data.Sqlite's
/// per-execution cost (parameter lookup by name, boxing, reader set-up) was most of its time; the
/// edge's spool writes and reads large blobs, which Microsoft.Data.Sqlite copies into new arrays
/// (a bound blob shorter than its array, and any blob read with GetBytes). It runs on the same
/// connection and inside the same transaction as the surrounding Microsoft.Data.Sqlite code;
/// errors surface as <see cref="SqliteException"/> like everywhere else.
/// </summary>
public sealed class FastStatement : IDisposable
{
    private const int StackLimit = 768;

    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public FastStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle!;
        Check(raw.sqlite3_prepare_v2(_db, sql, out _statement));
    }

    public FastStatement Bind(int index, string value)
    {
        // Encoded into a stack buffer (SQLite copies it): no managed allocation per value, and no
        // UTF-16 conversion inside SQLite. An empty span would bind NULL, so "" takes the
        // allocating overload; long values the UTF-16 one.
        if (value.Length == 0)
        {
            Check(raw.sqlite3_bind_text(_statement, index, value));
        }
        else if (value.Length <= StackLimit / 3)
        {
            Span<byte> utf8 = stackalloc byte[StackLimit];
            var length = System.Text.Encoding.UTF8.GetBytes(value, utf8);
            Check(raw.sqlite3_bind_text(_statement, index, utf8[..length]));
        }
        else
        {
            Check(raw.sqlite3_bind_text16(_statement, index, value.AsSpan()));
        }
        return this;
    }

    public FastStatement Bind(int index, long value)
    {
        Check(raw.sqlite3_bind_int64(_statement, index, value));
        return this;
    }

    public FastStatement Bind(int index, byte[] value) => Bind(index, (ReadOnlySpan<byte>)value);

    /// <summary>Binds a blob (SQLite copies it): the span can be a slice of a pooled array.</summary>
    public FastStatement Bind(int index, ReadOnlySpan<byte> value)
    {
        Check(raw.sqlite3_bind_blob(_statement, index, value));
        return this;
    }

    public FastStatement Bind(int index, bool value) => Bind(index, value ? 1L : 0L);

    /// <summary>Runs a statement without results; returns the rows it changed (0 for an ignored insert).</summary>
    public int Execute()
    {
        var rc = raw.sqlite3_step(_statement);
        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_DONE)
        {
            Check(rc);
        }
        return raw.sqlite3_changes(_db);
    }

    /// <summary>Runs a statement that returns one integer (e.g. <c>RETURNING</c>); null when it returned no row.</summary>
    public long? ExecuteScalar()
    {
        var rc = raw.sqlite3_step(_statement);
        long? value = rc == raw.SQLITE_ROW ? raw.sqlite3_column_int64(_statement, 0) : null;
        if (rc == raw.SQLITE_ROW)
        {
            // Finish the statement so RETURNING's write completes before the reset.
            rc = raw.sqlite3_step(_statement);
        }
        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_DONE)
        {
            Check(rc);
        }
        return value;
    }

    /// <summary>Steps a query: true when a row is available (read it with <see cref="Int64"/> and <see cref="Blob"/>), false when done.</summary>
    public bool Step()
    {
        var rc = raw.sqlite3_step(_statement);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }
        if (rc != raw.SQLITE_DONE)
        {
            Check(rc);
        }
        return false;
    }

    public long Int64(int column) => raw.sqlite3_column_int64(_statement, column);

    /// <summary>The column's bytes, owned by SQLite: valid until the next step.</summary>
    public ReadOnlySpan<byte> Blob(int column) => raw.sqlite3_column_blob(_statement, column);

    public void Dispose() => _statement.Dispose();

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }
}
