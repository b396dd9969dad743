namespace Veil.Testing;

/// <summary>
/// A clock that starts at a date the test chooses and then runs at real speed: the service's
/// timers (roll-ups, retries, feeds) fire as usual, while every date it computes — cycles, windows,
/// expiry — follows from the chosen start, never from the day the suite happens to run.
/// <see cref="Advance"/> jumps it ahead (e.g. past a sunset) while it keeps running, so hosts that
/// share it stay alive (their timers are real) and all see the jump at once. Use
/// <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/> instead when the test must stop time.
/// </summary>
public sealed class ClockAt(DateTimeOffset start) : TimeProvider
{
    private readonly long _started = System.GetTimestamp();

    /// <summary>The chosen start.</summary>
    public DateTimeOffset Start { get; } = start;

    private long _jumpedTicks;

    public override DateTimeOffset GetUtcNow() => Start + System.GetElapsedTime(_started) + TimeSpan.FromTicks(Interlocked.Read(ref _jumpedTicks));

    /// <summary>Moves the clock ahead by <paramref name="by"/> (it keeps running from there).</summary>
    public void Advance(TimeSpan by) => Interlocked.Add(ref _jumpedTicks, by.Ticks);
}
