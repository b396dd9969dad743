using Veil.Catalog.V1;

namespace Veil.Catalog.Data;

/// <summary>
/// Where an API is in its lifecycle (docs/catalog.md, "Lifecycle: suspend, deprecate, delete"):
/// the lifecycle columns of <c>apis</c>, unix ms with 0 for unset. Not part of any config version.
/// The state is derived, so RETIRING becomes RETIRED at <see cref="SunsetTime"/> by the reader's
/// clock without anything being written.
/// </summary>
public sealed record ApiLifecycle(long SuspendedAt = 0, long DeletedAt = 0, long DeprecateTime = 0, long SunsetTime = 0, string DeprecationLink = "")
{
    /// <summary>A never suspended, deprecated or deleted API.</summary>
    public static readonly ApiLifecycle Active = new();

    /// <summary>The state at <paramref name="nowMs"/>: deleted first, then suspended, then deprecated.</summary>
    public ApiState StateAt(long nowMs) =>
        DeletedAt > 0 ? (nowMs >= SunsetTime ? ApiState.Retired : ApiState.Retiring)
        : SuspendedAt > 0 ? ApiState.Suspended
        : DeprecateTime > 0 ? ApiState.Deprecated
        : ApiState.Active;

    /// <summary>The state as the edges and subscriptions get it: RETIRING until the sunset, which they judge by their own clocks.</summary>
    public ApiState PushedState => DeletedAt > 0 ? ApiState.Retiring : StateAt(0);
}
