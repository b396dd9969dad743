using System.ComponentModel.DataAnnotations;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Veil.Identity.Data;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Security;

/// <summary>The signing-key schedule, bound from <c>Identity:SigningKeys</c> (docs/identity.md, "Signing keys").</summary>
public sealed class SigningKeyOptions
{
    public const string SectionName = "Identity:SigningKeys";

    /// <summary>How long a key signs before its successor takes over.</summary>
    [Range(typeof(TimeSpan), "01:00:00", "365.00:00:00")]
    public TimeSpan RotationInterval { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How long a new key is published in the JWKS before it signs. Longer than the validators'
    /// JWKS refresh (10 minutes, <c>VeilAuthentication</c>) and the JWKS response's cache lifetime
    /// (5 minutes), so every validator knows a key before it meets a token signed with it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:15:00", "7.00:00:00")]
    public TimeSpan PublishAhead { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// Rotates the signing keys on <see cref="TimeProvider"/>'s clock: a successor is made and
/// published <see cref="SigningKeyOptions.PublishAhead"/> before the current key's
/// <see cref="SigningKeyOptions.RotationInterval"/> ends (or at once, on demand) and signs from
/// then on; a retired key stays published until every token it signed has expired (access-token
/// lifetime + clock skew after its successor activated), then is deleted. Every step runs in one
/// immediate transaction on the stored keys, so it is idempotent and safe against a restart.
/// </summary>
internal sealed class SigningKeyRotation : BackgroundService
{
    /// <summary>Longest sleep between two steps, whatever the schedule says (a safety net).</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan AfterFailure = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan ClockJump = TimeSpan.FromSeconds(1);

    private readonly IdentityStore _store;
    private readonly SigningKeys _keys;
    private readonly TimeProvider _time;
    private readonly SigningKeyOptions _options;
    private readonly TimeSpan _retention;
    private readonly ILogger<SigningKeyRotation> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private DateTimeOffset _next;

    public SigningKeyRotation(IdentityStore store, SigningKeys keys, TimeProvider time, IOptions<SigningKeyOptions> options,
        IOptions<IdentityOptions> identity, IOptions<VeilAuthOptions> auth, ILogger<SigningKeyRotation> logger)
    {
        _store = store;
        _keys = keys;
        _time = time;
        _options = options.Value;
        _retention = identity.Value.AccessTokenLifetime + auth.Value.ClockSkew;
        _logger = logger;
    }

    /// <summary>
    /// One step of the schedule: makes the first key or the next one when due, marks and deletes
    /// retired keys, publishes the result. <paramref name="rotateNow"/> makes a successor now
    /// (unless one is already pending). Returns the stored keys, oldest activation first.
    /// </summary>
    public async Task<IReadOnlyList<SigningKeyRecord>> StepAsync(bool rotateNow, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var now = _time.GetUtcNow();
            SigningKeyChanges changes = SigningKeyChanges.None;
            var records = await _store.UpdateSigningKeysAsync(keys =>
                changes = Plan(keys, now, _options, _retention, rotateNow, _keys.Create), cancellationToken);
            _keys.Apply(records);
            foreach (var added in changes.Add)
            {
                IdentityLog.SigningKeyCreated(_logger, added.Kid, added.ActivatesAt);
            }
            foreach (var removed in changes.Delete)
            {
                IdentityLog.SigningKeyRemoved(_logger, removed);
            }
            _next = NextStep(records, now, _options, _retention);
            return records;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Starts a rotation now (admin RPC) and wakes the schedule.</summary>
    public async Task<IReadOnlyList<SigningKeyRecord>> RotateNowAsync(CancellationToken cancellationToken)
    {
        var records = await StepAsync(rotateNow: true, cancellationToken);
        _wake.Writer.TryWrite(true);
        return records;
    }

    /// <summary>What one step changes in <paramref name="keys"/> (oldest activation first) at <paramref name="now"/>.</summary>
    internal static SigningKeyChanges Plan(IReadOnlyList<SigningKeyRecord> keys, DateTimeOffset now, SigningKeyOptions options,
        TimeSpan retention, bool rotateNow, Func<DateTimeOffset, DateTimeOffset, SigningKeyRecord> create)
    {
        var active = keys.LastOrDefault(k => k.ActivatesAt <= now);
        var pending = keys.Any(k => k.ActivatesAt > now);
        var add = new List<SigningKeyRecord>();
        if (active is null && !pending)
        {
            // The very first key signs at once: no token exists yet that a validator could miss.
            add.Add(create(now, now));
        }
        else if (active is not null && !pending &&
            (rotateNow || now >= active.ActivatesAt + options.RotationInterval - options.PublishAhead))
        {
            var scheduled = active.ActivatesAt + options.RotationInterval;
            var earliest = now + options.PublishAhead;
            add.Add(create(now, rotateNow || scheduled < earliest ? earliest : scheduled));
        }

        var retire = new List<(string, DateTimeOffset)>();
        var delete = new List<string>();
        for (var i = 0; i + 1 < keys.Count; i++)
        {
            var successorActivatedAt = keys[i + 1].ActivatesAt;
            if (successorActivatedAt > now)
            {
                break;
            }
            if (successorActivatedAt + retention <= now)
            {
                delete.Add(keys[i].Kid);
            }
            else if (keys[i].RetiredAt is null)
            {
                retire.Add((keys[i].Kid, successorActivatedAt));
            }
        }
        return new SigningKeyChanges(add, retire, delete);
    }

    /// <summary>When the schedule next has something to do after <paramref name="now"/>.</summary>
    internal static DateTimeOffset NextStep(IReadOnlyList<SigningKeyRecord> keys, DateTimeOffset now, SigningKeyOptions options, TimeSpan retention)
    {
        var next = DateTimeOffset.MaxValue;
        var active = keys.LastOrDefault(k => k.ActivatesAt <= now);
        var pending = keys.Where(k => k.ActivatesAt > now).ToList();
        foreach (var key in pending)
        {
            next = Min(next, key.ActivatesAt);
        }
        if (active is not null && pending.Count == 0)
        {
            next = Min(next, active.ActivatesAt + options.RotationInterval - options.PublishAhead);
        }
        for (var i = 0; i + 1 < keys.Count && keys[i + 1].ActivatesAt <= now; i++)
        {
            next = Min(next, keys[i + 1].ActivatesAt + retention);
        }
        return next;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            var wait = _next <= now ? TimeSpan.Zero : Min(_next - now, MaxWait);
            if (wait > TimeSpan.Zero)
            {
                using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var delay = Task.Delay(wait, _time, cancel.Token);
                // A clock that jumped while the timer was being armed (a test's fake clock) would
                // make it fire late: step now instead, which is harmless (every step is idempotent).
                if (_time.GetUtcNow() - now < ClockJump)
                {
                    await Task.WhenAny(delay, _wake.Reader.WaitToReadAsync(cancel.Token).AsTask());
                }
                await cancel.CancelAsync();
            }
            while (_wake.Reader.TryRead(out _))
            {
            }
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            try
            {
                await StepAsync(rotateNow: false, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                IdentityLog.SigningKeyRotationFailed(_logger, ex);
                _next = _time.GetUtcNow() + AfterFailure;
            }
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
