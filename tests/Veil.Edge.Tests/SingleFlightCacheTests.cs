using Microsoft.Extensions.Time.Testing;
using Veil.Edge.Dependencies;

namespace Veil.Edge.Tests;

public sealed class SingleFlightCacheTests
{
    private readonly FakeTimeProvider _time = new();
    private int _hits;
    private int _misses;

    private SingleFlightCache<string, string?> Create(int maxEntries = 100) =>
        new(TimeSpan.FromSeconds(1), maxEntries, _time, hit => Interlocked.Increment(ref hit ? ref _hits : ref _misses));

    [Fact]
    public async Task GetOrLoad_ConcurrentColdKey_LoadsOnce()
    {
        var cache = Create();
        var loads = 0;
        var gate = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var ct = TestContext.Current.CancellationToken;

        var waiters = Enumerable.Range(0, 50)
            .Select(_ => cache.GetOrLoadAsync("k", 0, _ => { Interlocked.Increment(ref loads); return gate.Task; }, ct).AsTask())
            .ToArray();
        gate.SetResult("v");
        var results = await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10), ct);

        Assert.Equal(1, loads);
        Assert.All(results, r => Assert.Equal("v", r));
        Assert.Equal(1, _misses);
        Assert.Equal(49, _hits);
    }

    [Fact]
    public async Task GetOrLoad_WithinTtl_ReusesAnswerThenReloadsAfterExpiry()
    {
        var cache = Create();
        var loads = 0;
        var ct = TestContext.Current.CancellationToken;
        Task<string?> Load(int _) => Task.FromResult<string?>("v" + Interlocked.Increment(ref loads));

        Assert.Equal("v1", await cache.GetOrLoadAsync("k", 0, Load, ct));
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal("v1", await cache.GetOrLoadAsync("k", 0, Load, ct));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("v2", await cache.GetOrLoadAsync("k", 0, Load, ct));
        Assert.Equal(2, loads);
    }

    [Fact]
    public async Task GetOrLoad_NegativeAnswer_IsCachedToo()
    {
        var cache = Create();
        var loads = 0;
        var ct = TestContext.Current.CancellationToken;

        Assert.Null(await cache.GetOrLoadAsync("k", 0, _ => { loads++; return Task.FromResult<string?>(null); }, ct));
        Assert.Null(await cache.GetOrLoadAsync("k", 0, _ => { loads++; return Task.FromResult<string?>(null); }, ct));
        Assert.Equal(1, loads);
    }

    [Fact]
    public async Task GetOrLoad_FailedLoad_IsNotCached()
    {
        var cache = Create();
        var ct = TestContext.Current.CancellationToken;

        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await cache.GetOrLoadAsync("k", 0, _ => Task.FromException<string?>(new InvalidOperationException()), ct));
        Assert.Equal("ok", await cache.GetOrLoadAsync("k", 0, _ => Task.FromResult<string?>("ok"), ct));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task GetOrLoad_CallerCancels_SharedLoadStillCompletesForOthers()
    {
        var cache = Create();
        var gate = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var impatient = new CancellationTokenSource();
        var ct = TestContext.Current.CancellationToken;

        var first = cache.GetOrLoadAsync("k", 0, _ => gate.Task, impatient.Token).AsTask();
        var second = cache.GetOrLoadAsync("k", 0, _ => gate.Task, ct).AsTask();
        await impatient.CancelAsync();
        gate.SetResult("v");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.Equal("v", await second.WaitAsync(TimeSpan.FromSeconds(10), ct));
    }

    [Fact]
    public async Task GetOrLoad_Full_SweepsExpiredAndStaysBounded()
    {
        var cache = Create(maxEntries: 100);
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 100; i++)
        {
            await cache.GetOrLoadAsync("k" + i, 0, _ => Task.FromResult<string?>("v"), ct);
        }
        Assert.Equal(100, cache.Count);

        // Full of fresh answers: a new key is answered but not cached.
        Assert.Equal("x", await cache.GetOrLoadAsync("new", 0, _ => Task.FromResult<string?>("x"), ct));
        Assert.Equal(100, cache.Count);

        // Once they expire, room is made.
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("y", await cache.GetOrLoadAsync("newer", 0, _ => Task.FromResult<string?>("y"), ct));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task InvalidateTag_WarmEntry_NextLookupReloads()
    {
        // Tagged by the answer ("id:…"), as the key cache is by key id: a revocation carries only the id.
        var cache = new SingleFlightCache<string, string?>(TimeSpan.FromSeconds(10), 100, _time, _ => { }, v => v?.Split('/')[0]);
        var loads = 0;
        var ct = TestContext.Current.CancellationToken;
        Task<string?> Load(int _) => Task.FromResult<string?>("id1/v" + Interlocked.Increment(ref loads));
        Assert.Equal("id1/v1", await cache.GetOrLoadAsync("digest", 0, Load, ct));

        Assert.False(cache.InvalidateTag("id2"));
        Assert.Equal("id1/v1", await cache.GetOrLoadAsync("digest", 0, Load, ct));
        Assert.True(cache.InvalidateTag("id1"));

        Assert.Equal("id1/v2", await cache.GetOrLoadAsync("digest", 0, Load, ct));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task InvalidateTag_WhileLoadInFlight_AnswerGivenButNotKept()
    {
        var cache = new SingleFlightCache<string, string?>(TimeSpan.FromSeconds(10), 100, _time, _ => { }, v => v?.Split('/')[0]);
        var ct = TestContext.Current.CancellationToken;
        var gate = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = cache.GetOrLoadAsync("digest", 0, _ => gate.Task, ct).AsTask();

        // The load may have read the state from before the revocation, and its tag is not known yet:
        // its answer must not outlive it.
        Assert.False(cache.InvalidateTag("id1"));
        gate.SetResult("id1/old");

        Assert.Equal("id1/old", await waiting.WaitAsync(TimeSpan.FromSeconds(10), ct));
        Assert.Equal("id1/new", await cache.GetOrLoadAsync("digest", 0, _ => Task.FromResult<string?>("id1/new"), ct));
    }

    [Fact]
    public async Task InvalidateAll_ManyEntries_AllReloadAndCountIsZero()
    {
        var cache = Create();
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 10; i++)
        {
            await cache.GetOrLoadAsync("k" + i, 0, _ => Task.FromResult<string?>("v"), ct);
        }

        Assert.Equal(10, cache.InvalidateAll());

        Assert.Equal(0, cache.Count);
        Assert.Equal("w", await cache.GetOrLoadAsync("k3", 0, _ => Task.FromResult<string?>("w"), ct));
    }
}
