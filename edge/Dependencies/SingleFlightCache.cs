using System.Collections.Concurrent;

namespace Veil.Edge.Dependencies;

/// <summary>
/// A small time-bounded cache of remote answers with single flight: however many requests ask for
/// a cold key at once, one load runs and all of them await it. Answers (positive and negative) live
/// for the TTL counted from when the load finished; failed loads are not cached, so the next request
/// tries again. Size is bounded: expired entries are swept when the cache is full or every few
/// seconds, and while it is still full new keys are loaded without being cached.
/// Entries can be dropped before their TTL (<see cref="Invalidate"/>, <see cref="InvalidateTag"/>,
/// <see cref="InvalidateAll"/>) when a service pushes a change; a load in flight while any
/// invalidation happens answers its waiters but is not kept, since it may have read the old state.
/// </summary>
internal sealed class SingleFlightCache<TKey, TValue> where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Entry> _entries = new();
    private readonly TimeProvider _time;
    private readonly long _ttl;
    private readonly long _sweepInterval;
    private readonly int _maxEntries;
    private readonly Action<bool> _onLookup;
    private readonly Func<TValue, string?>? _tagOf;
    // Tag (e.g. a key id) → the one cache key whose answer carries it: invalidation by tag is a lookup.
    private readonly ConcurrentDictionary<string, TKey> _tags = new(StringComparer.Ordinal);
    private int _count;
    private long _lastSweep;
    private long _invalidations;

    /// <param name="ttl">How long a loaded answer is reused.</param>
    /// <param name="maxEntries">Most entries held.</param>
    /// <param name="time">Clock for expiry.</param>
    /// <param name="onLookup">Told of every lookup: true for a hit (a fresh answer or a load already in flight).</param>
    /// <param name="tagOf">The tag of a loaded answer (null: none), by which <see cref="InvalidateTag"/> finds its entry.</param>
    public SingleFlightCache(TimeSpan ttl, int maxEntries, TimeProvider time, Action<bool> onLookup, Func<TValue, string?>? tagOf = null)
    {
        _tagOf = tagOf;
        _time = time;
        _ttl = (long)(ttl.TotalSeconds * time.TimestampFrequency);
        _sweepInterval = Math.Max(_ttl * 10, 5 * time.TimestampFrequency);
        _maxEntries = maxEntries;
        _onLookup = onLookup;
        _lastSweep = time.GetTimestamp();
    }

    /// <summary>Entries currently held (fresh, in flight or expired but not yet swept).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>A fresh cached answer for <paramref name="key"/> (counted as a hit), without starting a load.</summary>
    public bool TryGetFresh(TKey key, out TValue value)
    {
        if (_entries.TryGetValue(key, out var existing) && IsFresh(existing, _time.GetTimestamp()))
        {
            _onLookup(true);
            value = existing.Completion.Task.Result;
            return true;
        }
        value = default!;
        return false;
    }

    private static bool IsFresh(Entry entry, long now) =>
        entry.Completion.Task.IsCompletedSuccessfully && now < Volatile.Read(ref entry.ExpiresAt);

    /// <summary>
    /// The cached answer for <paramref name="key"/>, or the answer of the one load in flight for it,
    /// or a new load. <paramref name="cancellationToken"/> stops this caller's wait, not the shared load.
    /// </summary>
    public ValueTask<TValue> GetOrLoadAsync<TState>(TKey key, TState state, Func<TState, Task<TValue>> load, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var now = _time.GetTimestamp();
            _entries.TryGetValue(key, out var existing);
            if (existing is not null)
            {
                var task = existing.Completion.Task;
                if (IsFresh(existing, now))
                {
                    _onLookup(true);
                    return new ValueTask<TValue>(task.Result);
                }
                if (!task.IsCompleted)
                {
                    _onLookup(true);
                    return new ValueTask<TValue>(task.WaitAsync(cancellationToken));
                }
            }

            var fresh = new Entry();
            bool stored;
            if (existing is null)
            {
                if (Volatile.Read(ref _count) >= _maxEntries && !Sweep(now, force: true))
                {
                    // Still full of fresh answers: answer this one without caching it.
                    _onLookup(false);
                    return new ValueTask<TValue>(load(state).WaitAsync(cancellationToken));
                }
                stored = _entries.TryAdd(key, fresh);
                if (stored)
                {
                    Interlocked.Increment(ref _count);
                }
            }
            else
            {
                stored = _entries.TryUpdate(key, fresh, existing);
            }

            if (stored)
            {
                _onLookup(false);
                _ = LoadAsync(key, fresh, state, load);
                Sweep(now, force: false);
                return new ValueTask<TValue>(fresh.Completion.Task.WaitAsync(cancellationToken));
            }
            // Another request changed the entry between our read and write: look again.
            if (attempt >= 8)
            {
                _onLookup(false);
                return new ValueTask<TValue>(load(state).WaitAsync(cancellationToken));
            }
        }
    }

    private async Task LoadAsync<TState>(TKey key, Entry entry, TState state, Func<TState, Task<TValue>> load)
    {
        var invalidations = Interlocked.Read(ref _invalidations);
        try
        {
            var value = await load(state).ConfigureAwait(false);
            // Expiry is set before the result is published, so no reader sees a result without it.
            Volatile.Write(ref entry.ExpiresAt, _time.GetTimestamp() + _ttl);
            // The tag is indexed before the check below: an invalidation after the check finds the
            // entry through it, one before the check is seen by the check.
            if (_tagOf?.Invoke(value) is { } tag)
            {
                entry.Tag = tag;
                _tags[tag] = key;
            }
            if (Interlocked.Read(ref _invalidations) != invalidations)
            {
                Remove(key, entry);
            }
            entry.Completion.SetResult(value);
        }
        catch (Exception ex)
        {
            Remove(key, entry);
            entry.Completion.SetException(ex);
        }
    }

    /// <summary>Drops expired entries when forced (cache full) or when the last sweep is old; true when room was made.</summary>
    private bool Sweep(long now, bool force)
    {
        var last = Interlocked.Read(ref _lastSweep);
        if (!force && now - last < _sweepInterval)
        {
            return false;
        }
        if (Interlocked.CompareExchange(ref _lastSweep, now, last) != last && !force)
        {
            return false; // another request is sweeping
        }
        foreach (var (key, entry) in _entries)
        {
            var task = entry.Completion.Task;
            if (task.IsCompleted && now >= Volatile.Read(ref entry.ExpiresAt))
            {
                Remove(key, entry);
            }
        }
        return Volatile.Read(ref _count) < _maxEntries;
    }

    /// <summary>Drops the entry for <paramref name="key"/>, whatever its state; true when there was one.</summary>
    public bool Invalidate(TKey key)
    {
        Interlocked.Increment(ref _invalidations);
        return _entries.TryGetValue(key, out var entry) && Remove(key, entry);
    }

    /// <summary>Drops the entry whose answer carries <paramref name="tag"/>; true when there was one.</summary>
    public bool InvalidateTag(string tag)
    {
        Interlocked.Increment(ref _invalidations);
        return _tags.TryGetValue(tag, out var key) && _entries.TryGetValue(key, out var entry) && entry.Tag == tag && Remove(key, entry);
    }

    /// <summary>Drops every entry (the source of truth says it cannot tell what changed); returns how many.</summary>
    public int InvalidateAll()
    {
        Interlocked.Increment(ref _invalidations);
        var removed = 0;
        foreach (var (key, entry) in _entries)
        {
            removed += Remove(key, entry) ? 1 : 0;
        }
        return removed;
    }

    private bool Remove(TKey key, Entry entry)
    {
        if (!_entries.TryRemove(KeyValuePair.Create(key, entry)))
        {
            return false;
        }
        Interlocked.Decrement(ref _count);
        if (entry.Tag is { } tag)
        {
            _tags.TryRemove(KeyValuePair.Create(tag, key));
        }
        return true;
    }

    private sealed class Entry
    {
        public readonly TaskCompletionSource<TValue> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long ExpiresAt = long.MaxValue;
        public string? Tag;
    }
}
