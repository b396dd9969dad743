using System.Diagnostics;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Veil.Usage.V1;

namespace Veil.Edge.Usage;

/// <summary>
/// The edge's durable usage spool. Requests hand their event to a bounded in-memory channel
/// (<see cref="TryEnqueue"/> never blocks); one writer drains it into a SQLite file in groups: one
/// transaction, so one fsync (WAL, synchronous=FULL), per <see cref="EdgeUsageOptions.GroupCommitInterval"/>
/// or <see cref="EdgeUsageOptions.GroupCommitMaxEvents"/>. The shipper reads the oldest rows and
/// deletes them only once usage acknowledged them. A crash loses what is still in the channel: at
/// most one group-commit window of events.
/// </summary>
internal sealed class UsageSpool : IDisposable
{
    public const string ChannelFull = "channel_full";
    public const string SpoolFull = "spool_full";

    private const string Schema = """
        PRAGMA journal_mode=WAL;
        CREATE TABLE IF NOT EXISTS spool (
            seq         INTEGER PRIMARY KEY,
            occurred_ms INTEGER NOT NULL,
            event       BLOB NOT NULL
        ) STRICT;
        PRAGMA user_version=1;
        """;

    private readonly EdgeUsageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<UsageSpool> _logger;
    private readonly Channel<UsageEvent> _channel;
    // Capacity 1, drop on full: "something was committed", coalesced, for the shipper.
    private readonly Channel<bool> _committed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly string _connectionString;
    private SqliteConnection? _writer;
    private SqliteConnection? _reader;
    private long _depth;
    private long _droppedChannelFull;
    private long _droppedSpoolFull;
    private int _droppingChannel;
    private long _droppedAtChannelEpisodeStart;
    private bool _droppingSpool;
    private long _droppedAtSpoolEpisodeStart;

    public UsageSpool(IOptions<EdgeUsageOptions> options, TimeProvider time, ILogger<UsageSpool> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        // Many requests write, one writer reads; the request path only ever TryWrites.
        _channel = Channel.CreateBounded<UsageEvent>(new BoundedChannelOptions(_options.ChannelCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        Path = _options.SpoolPath ?? throw new InvalidOperationException("Edge:Usage:SpoolPath is not set.");
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    /// <summary>Events committed to the spool and not yet acknowledged by usage.</summary>
    public long Depth => Interlocked.Read(ref _depth);

    /// <summary>Events in memory, not yet committed (what a crash would lose).</summary>
    public int Pending => _channel.Reader.Count;

    public long DroppedChannelFull => Interlocked.Read(ref _droppedChannelFull);

    public long DroppedSpoolFull => Interlocked.Read(ref _droppedSpoolFull);

    /// <summary>Age of the oldest spooled event; zero when the spool is empty or not open.</summary>
    public TimeSpan OldestAge
    {
        get
        {
            if (Depth == 0 || _writer is null)
            {
                return TimeSpan.Zero;
            }
            try
            {
                using var connection = Connect();
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT occurred_ms FROM spool ORDER BY seq LIMIT 1;";
                return command.ExecuteScalar() is long ms
                    ? TimeSpan.FromMilliseconds(Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - ms))
                    : TimeSpan.Zero;
            }
            catch (SqliteException)
            {
                return TimeSpan.Zero;
            }
        }
    }

    /// <summary>Opens (creating if needed) the spool file and counts what an earlier run left in it.</summary>
    public void Open()
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
        _writer = Connect();
        using (var schema = _writer.CreateCommand())
        {
            schema.CommandText = Schema;
            schema.ExecuteNonQuery();
        }
        _reader = Connect();
        using var count = _writer.CreateCommand();
        count.CommandText = "SELECT count(*) FROM spool;";
        _depth = (long)count.ExecuteScalar()!;
        UsageLog.SpoolOpened(_logger, Path, _depth);
        if (_depth > 0)
        {
            _committed.Writer.TryWrite(true);
        }
    }

    private SqliteConnection Connect()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        // FULL: a committed group survives power loss, not only a process crash.
        pragma.CommandText = "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;";
        pragma.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Hands an event to the writer without ever waiting; false (and counted) when the channel is full.</summary>
    public bool TryEnqueue(UsageEvent usageEvent)
    {
        if (_channel.Writer.TryWrite(usageEvent))
        {
            return true;
        }
        var dropped = Interlocked.Increment(ref _droppedChannelFull);
        if (Interlocked.CompareExchange(ref _droppingChannel, 1, 0) == 0)
        {
            Interlocked.Exchange(ref _droppedAtChannelEpisodeStart, dropped - 1);
            UsageLog.DroppingStarted(_logger, ChannelFull, Depth, _options.MaxSpoolEvents);
        }
        return false;
    }

    /// <summary>No more events: the writer commits what is queued and ends.</summary>
    public void CompleteAdding() => _channel.Writer.TryComplete();

    /// <summary>
    /// The single writer: groups events and commits each group in one transaction, until
    /// <see cref="CompleteAdding"/> was called and everything queued is committed.
    /// </summary>
    public async Task RunWriterAsync()
    {
        var reader = _channel.Reader;
        var group = new List<UsageEvent>(_options.GroupCommitMaxEvents);
        using var wait = new CancellationTokenSource();
        while (await reader.WaitToReadAsync())
        {
            // The window starts with the group's first event: no event waits longer than the interval.
            var deadline = Stopwatch.GetTimestamp() + (long)(_options.GroupCommitInterval.TotalSeconds * Stopwatch.Frequency);
            while (group.Count < _options.GroupCommitMaxEvents)
            {
                if (reader.TryRead(out var usageEvent))
                {
                    group.Add(usageEvent);
                    continue;
                }
                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero || reader.Completion.IsCompleted)
                {
                    break;
                }
                wait.TryReset();
                wait.CancelAfter(remaining);
                try
                {
                    if (!await reader.WaitToReadAsync(wait.Token))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            await CommitWithRetryAsync(group);
            group.Clear();
            EndChannelEpisodeIfOver();
        }
    }

    private async Task CommitWithRetryAsync(List<UsageEvent> group)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Commit(group);
                return;
            }
            catch (SqliteException ex)
            {
                UsageLog.SpoolWriteFailed(_logger, group.Count, ex);
                if (_channel.Reader.Completion.IsCompleted && attempt >= 3)
                {
                    // Stopping and the disk still refuses: count the loss rather than hang the stop.
                    Interlocked.Add(ref _droppedSpoolFull, group.Count);
                    return;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * (1 << Math.Min(attempt, 6)))), _time);
            }
        }
    }

    private void Commit(List<UsageEvent> group)
    {
        var room = Math.Max(0, _options.MaxSpoolEvents - Depth);
        var keep = (int)Math.Min(group.Count, room);
        if (keep < group.Count)
        {
            var dropped = Interlocked.Add(ref _droppedSpoolFull, group.Count - keep);
            if (!_droppingSpool)
            {
                _droppingSpool = true;
                _droppedAtSpoolEpisodeStart = dropped - (group.Count - keep);
                UsageLog.DroppingStarted(_logger, SpoolFull, Depth, _options.MaxSpoolEvents);
            }
        }
        else if (_droppingSpool)
        {
            _droppingSpool = false;
            UsageLog.DroppingEnded(_logger, DroppedSpoolFull - _droppedAtSpoolEpisodeStart, SpoolFull);
        }
        if (keep == 0)
        {
            return;
        }

        using var transaction = _writer!.BeginTransaction();
        using var insert = _writer.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO spool (occurred_ms, event) VALUES ($occurred, $event);";
        var occurred = insert.Parameters.Add("$occurred", SqliteType.Integer);
        var body = insert.Parameters.Add("$event", SqliteType.Blob);
        insert.Prepare();
        for (var i = 0; i < keep; i++)
        {
            var usageEvent = group[i];
            occurred.Value = (usageEvent.OccurredAt.Seconds * 1000) + (usageEvent.OccurredAt.Nanos / 1_000_000);
            body.Value = usageEvent.ToByteArray();
            insert.ExecuteNonQuery();
        }
        transaction.Commit();
        Interlocked.Add(ref _depth, keep);
        _committed.Writer.TryWrite(true);
    }

    private void EndChannelEpisodeIfOver()
    {
        // Over once the writer has caught up to half the channel.
        if (Volatile.Read(ref _droppingChannel) == 1 && _channel.Reader.Count < _options.ChannelCapacity / 2 &&
            Interlocked.CompareExchange(ref _droppingChannel, 0, 1) == 1)
        {
            UsageLog.DroppingEnded(_logger, DroppedChannelFull - Interlocked.Read(ref _droppedAtChannelEpisodeStart), ChannelFull);
        }
    }

    /// <summary>Waits until a group was committed since the last wait, or <paramref name="timeout"/> passes.</summary>
    public async Task WaitForCommitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _committed.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Timed out: the caller looks anyway.
        }
    }

    /// <summary>The oldest spooled events, in spool order, and the sequence number of the last one.</summary>
    public (List<UsageEvent> Events, long LastSeq) ReadOldest(int count)
    {
        using var select = _reader!.CreateCommand();
        select.CommandText = "SELECT seq, event FROM spool ORDER BY seq LIMIT $count;";
        select.Parameters.AddWithValue("$count", count);
        var events = new List<UsageEvent>(Math.Min(count, 1024));
        long last = 0;
        using var rows = select.ExecuteReader();
        while (rows.Read())
        {
            last = rows.GetInt64(0);
            events.Add(UsageEvent.Parser.ParseFrom((byte[])rows.GetValue(1)));
        }
        return (events, last);
    }

    /// <summary>Deletes every event up to <paramref name="lastSeq"/> (acknowledged by usage).</summary>
    public void DeleteThrough(long lastSeq)
    {
        using var transaction = _reader!.BeginTransaction();
        using var delete = _reader.CreateCommand();
        delete.Transaction = transaction;
        delete.CommandText = "DELETE FROM spool WHERE seq <= $last;";
        delete.Parameters.AddWithValue("$last", lastSeq);
        var deleted = delete.ExecuteNonQuery();
        transaction.Commit();
        Interlocked.Add(ref _depth, -deleted);
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _reader?.Dispose();
        _writer = null;
        _reader = null;
    }
}
