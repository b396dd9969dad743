using System.Buffers;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Data;
using Veil.Usage.V1;

namespace Veil.Edge.Metering;

/// <summary>
/// The edge's durable usage spool. Requests hand their event to a bounded in-memory channel
/// (<see cref="TryEnqueue"/> never blocks); one writer drains it into a SQLite file in groups: one
/// row and one transaction, so one fsync (WAL, synchronous=FULL), per
/// <see cref="EdgeUsageOptions.GroupCommitInterval"/> or <see cref="EdgeUsageOptions.GroupCommitMaxEvents"/>.
/// A row holds its group already encoded as an <see cref="IngestEventsRequest"/> whose calls are
/// grouped by what they share (<see cref="UsageEventGroup"/>: ~50 bytes per call instead of ~380),
/// so an event is serialized once and SQLite works per group, not per event; the shipper sends the
/// oldest rows' bytes as they are and deletes them only once usage acknowledged them. A crash loses
/// what is still in the channel: at most one group-commit window of events.
/// </summary>
internal sealed class UsageSpool : IDisposable
{
    public const string ChannelFull = "channel_full";
    public const string SpoolFull = "spool_full";

    // Version 1 kept one row per event (table spool); Open() converts such a file to groups.
    private const int SchemaVersion = 2;
    // 64 KiB pages: a group is one large blob, mostly overflow pages, each written to the WAL with
    // its own frame header and checksum and later copied by the checkpoint. With 4 KiB pages the
    // spool's SQLite work cost about twice as much CPU per group (bench: 1,000 × 250-byte events).
    // Takes effect when the file is created; an existing spool keeps its page size.
    private const string Schema = """
        PRAGMA page_size=65536;
        PRAGMA journal_mode=WAL;
        CREATE TABLE IF NOT EXISTS spool_group (
            seq         INTEGER PRIMARY KEY,
            oldest_ms   INTEGER NOT NULL,   -- earliest occurred_at of the group's events
            events      INTEGER NOT NULL,
            body        BLOB NOT NULL       -- veil.usage.v1.IngestEventsRequest
        ) STRICT;
        """;

    private readonly EdgeUsageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<UsageSpool> _logger;
    private readonly Channel<UsageRecord> _channel;
    private readonly string _edgeId;
    // Group contexts already built, by context: a context message is made once, not once per commit.
    private readonly Dictionary<UsageContextKey, UsageEvent> _contexts = [];
    // Capacity 1, drop on full: "something was committed", coalesced, for the shipper.
    private readonly Channel<bool> _committed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopWaiting = new();
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

    public UsageSpool(IOptions<EdgeUsageOptions> options, IOptions<EdgeOptions> edge, TimeProvider time, ILogger<UsageSpool> logger)
    {
        _options = options.Value;
        _edgeId = edge.Value.EdgeId ?? Environment.MachineName;
        _time = time;
        _logger = logger;
        // Many requests write, one writer reads; the request path only ever TryWrites.
        _channel = Channel.CreateBounded<UsageRecord>(new BoundedChannelOptions(_options.ChannelCapacity)
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
                command.CommandText = "SELECT oldest_ms FROM spool_group ORDER BY seq LIMIT 1;";
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
            schema.CommandText = "PRAGMA user_version;";
            if ((long)schema.ExecuteScalar()! < SchemaVersion)
            {
                UpgradeFromEventRows(_writer);
            }
        }
        _reader = Connect();
        using var count = _writer.CreateCommand();
        count.CommandText = "SELECT coalesce(sum(events), 0) FROM spool_group;";
        _depth = (long)count.ExecuteScalar()!;
        UsageLog.SpoolOpened(_logger, Path, _depth);
        if (_depth > 0)
        {
            _committed.Writer.TryWrite(true);
        }
    }

    /// <summary>
    /// A spool written by an older edge (one row per event, table <c>spool</c>) becomes groups of
    /// <see cref="EdgeUsageOptions.GroupCommitMaxEvents"/>, in order, in one transaction: nothing
    /// spooled before an upgrade is lost or reordered.
    /// </summary>
    private void UpgradeFromEventRows(SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'spool';";
        if ((long)command.ExecuteScalar()! > 0)
        {
            var group = new List<UsageEvent>(_options.GroupCommitMaxEvents);
            command.CommandText = "SELECT event FROM spool ORDER BY seq;";
            using (var rows = command.ExecuteReader())
            {
                while (rows.Read())
                {
                    group.Add(UsageEvent.Parser.ParseFrom((byte[])rows.GetValue(0)));
                    if (group.Count == _options.GroupCommitMaxEvents)
                    {
                        InsertEvents(connection, group);
                        group.Clear();
                    }
                }
            }
            if (group.Count > 0)
            {
                InsertEvents(connection, group);
            }
            command.CommandText = "DROP TABLE spool;";
            command.ExecuteNonQuery();
        }
        command.CommandText = $"PRAGMA user_version={SchemaVersion};";
        command.ExecuteNonQuery();
        transaction.Commit();
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
    public bool TryEnqueue(in UsageRecord record)
    {
        if (_channel.Writer.TryWrite(record))
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

    /// <summary>No more events: the writer commits what is queued (without waiting out its window) and ends.</summary>
    public void CompleteAdding()
    {
        _channel.Writer.TryComplete();
        _stopWaiting.Cancel();
    }

    /// <summary>
    /// The single writer: groups events and commits each group in one transaction, until
    /// <see cref="CompleteAdding"/> was called and everything queued is committed. It wakes once per
    /// group, not once per event: on the group's first event it sleeps out the rest of the window
    /// (unless a full group is already queued), then takes what came meanwhile.
    /// </summary>
    public async Task RunWriterAsync()
    {
        var reader = _channel.Reader;
        var group = new List<UsageRecord>(_options.GroupCommitMaxEvents);
        while (await reader.WaitToReadAsync())
        {
            // The window starts with the group's first event: no event waits longer than the interval.
            if (reader.Count < _options.GroupCommitMaxEvents && !reader.Completion.IsCompleted)
            {
                try
                {
                    await Task.Delay(_options.GroupCommitInterval, _time, _stopWaiting.Token);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: commit what is queued now.
                }
            }
            while (group.Count < _options.GroupCommitMaxEvents && reader.TryRead(out var record))
            {
                group.Add(record);
            }
            await CommitWithRetryAsync(group);
            group.Clear();
            EndChannelEpisodeIfOver();
        }
    }

    private async Task CommitWithRetryAsync(List<UsageRecord> group)
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

    private void Commit(List<UsageRecord> group)
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
        InsertGroup(_writer, group, keep);
        transaction.Commit();
        Interlocked.Add(ref _depth, keep);
        _committed.Writer.TryWrite(true);
    }

    /// <summary>
    /// One row for the first <paramref name="count"/> calls of <paramref name="group"/>, in the
    /// connection's open transaction: an <see cref="IngestEventsRequest"/> holding one
    /// <see cref="UsageEventGroup"/> per context, in the order the contexts first appear.
    /// </summary>
    private void InsertGroup(SqliteConnection connection, List<UsageRecord> group, int count)
    {
        if (_contexts.Count > MaxCachedContexts)
        {
            _contexts.Clear();
        }
        var groups = new Dictionary<UsageContextKey, UsageEventGroup>();
        var ordered = new List<UsageEventGroup>();
        var oldest = long.MaxValue;
        for (var i = 0; i < count; i++)
        {
            var record = group[i];
            if (!groups.TryGetValue(record.Context, out var calls))
            {
                if (!_contexts.TryGetValue(record.Context, out var context))
                {
                    context = record.Context.ToContext(_edgeId);
                    _contexts[record.Context] = context;
                }
                calls = new UsageEventGroup { Context = context };
                groups.Add(record.Context, calls);
                ordered.Add(calls);
            }
            calls.AddCall(record.EventId, record.OccurredAtMs, record.StatusCode, record.LatencyMs, record.BytesIn, record.BytesOut, record.Billable,
                record.RequestId, record.Path);
            oldest = Math.Min(oldest, record.OccurredAtMs);
        }
        Insert(connection, ordered, IngestEventsRequest.GroupsFieldNumber, oldest, count);
    }

    /// <summary>Contexts kept built between commits before the cache starts over.</summary>
    private const int MaxCachedContexts = 10_000;

    /// <summary>A spool row of whole events (field <c>events</c>): only for converting a version-1 spool.</summary>
    private static void InsertEvents(SqliteConnection connection, List<UsageEvent> events)
    {
        var oldest = long.MaxValue;
        foreach (var usageEvent in events)
        {
            oldest = Math.Min(oldest, usageEvent.OccurredAt.ToUnixMilliseconds());
        }
        Insert(connection, events, IngestEventsRequest.EventsFieldNumber, oldest, events.Count);
    }

    /// <summary>
    /// Inserts one row: <paramref name="messages"/> encoded as repeated field <paramref name="field"/>
    /// of an <see cref="IngestEventsRequest"/>, message by message, each message's size computed once
    /// (encoding the request as a message would compute every nested size twice).
    /// </summary>
    private static void Insert<T>(SqliteConnection connection, List<T> messages, int field, long oldest, int events)
        where T : IMessage
    {
        var sizes = ArrayPool<int>.Shared.Rent(messages.Count);
        var tagSize = CodedOutputStream.ComputeTagSize(field);
        var size = 0;
        for (var i = 0; i < messages.Count; i++)
        {
            sizes[i] = messages[i].CalculateSize();
            size += tagSize + CodedOutputStream.ComputeLengthSize(sizes[i]) + sizes[i];
        }
        // Encoded into a pooled array: a group can be larger than the large-object threshold, and
        // a fresh array per group would churn the LOH (gen-2 collections).
        var body = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var output = new CodedOutputStream(body);
            for (var i = 0; i < messages.Count; i++)
            {
                output.WriteTag(field, WireFormat.WireType.LengthDelimited);
                output.WriteLength(sizes[i]);
                messages[i].WriteTo(output);
            }
            output.Flush();
            // Bound through the native API: Microsoft.Data.Sqlite copies a blob parameter whose
            // Size is below its array's length into a new array — a large-object allocation per
            // group, which made the metering edge run a gen-2 collection every few seconds.
            // Runs inside the connection's open transaction like any command on it.
            using var insert = new FastStatement(connection, "INSERT INTO spool_group (oldest_ms, events, body) VALUES (?1, ?2, ?3);");
            insert.Bind(1, oldest).Bind(2, events).Bind(3, body.AsSpan(0, size)).Execute();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
            ArrayPool<int>.Shared.Return(sizes);
        }
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

    /// <summary>
    /// The oldest spooled groups, in spool order, holding at most <paramref name="maxEvents"/> events
    /// (at least one group, whatever its size): their encoded bytes, event count and last sequence number.
    /// </summary>
    public SpooledBatch ReadOldest(int maxEvents)
    {
        // Read through the native API, straight into pooled arrays: SqliteDataReader.GetBytes
        // first copies the whole blob into a new array of its own (a large object per group).
        using var select = new FastStatement(_reader!, "SELECT seq, events, body FROM spool_group ORDER BY seq LIMIT ?1;");
        // Groups hold at least one event each: maxEvents rows always suffice.
        select.Bind(1, maxEvents);
        var bodies = new List<ArraySegment<byte>>();
        var events = 0;
        long last = 0;
        while (select.Step())
        {
            var count = (int)select.Int64(1);
            if (bodies.Count > 0 && events + count > maxEvents)
            {
                break;
            }
            last = select.Int64(0);
            events += count;
            var blob = select.Blob(2);
            var body = ArrayPool<byte>.Shared.Rent(blob.Length);
            blob.CopyTo(body);
            bodies.Add(new ArraySegment<byte>(body, 0, blob.Length));
        }
        return new SpooledBatch(bodies, events, last);
    }

    /// <summary>Deletes every group up to <paramref name="lastSeq"/> (acknowledged by usage): <paramref name="events"/> events.</summary>
    public void DeleteThrough(long lastSeq, int events)
    {
        using var transaction = _reader!.BeginTransaction();
        using var delete = _reader.CreateCommand();
        delete.Transaction = transaction;
        delete.CommandText = "DELETE FROM spool_group WHERE seq <= $last;";
        delete.Parameters.AddWithValue("$last", lastSeq);
        delete.ExecuteNonQuery();
        transaction.Commit();
        Interlocked.Add(ref _depth, -events);
    }

    public void Dispose()
    {
        _stopWaiting.Dispose();
        _writer?.Dispose();
        _reader?.Dispose();
        _writer = null;
        _reader = null;
    }
}
