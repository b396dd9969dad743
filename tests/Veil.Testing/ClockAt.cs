namespace Veil.Testing;

/// <summary>
/// A clock that starts at a date the test chooses and then runs at real speed: the service's
/// timers (roll-ups, retries, feeds) fire as usual, while every date it computes — cycles, windows,
/// expiry — follows from the chosen start, never from the day the suite happens to run.
/// Use <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/> instead when the test must
/// stop time or step it.
/// </summary>
public sealed class ClockAt(DateTimeOffset start) : TimeProvider
{
    private readonly long _started = System.GetTimestamp();

    /// <summary>The chosen start.</summary>
    public DateTimeOffset Start { get; } = start;

    public override DateTimeOffset GetUtcNow() => Start + System.GetElapsedTime(_started);
}
