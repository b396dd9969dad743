using Google.Protobuf.WellKnownTypes;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// Stored times are Unix milliseconds (SQLite <c>INTEGER</c>); contracts carry
/// <see cref="Timestamp"/>. These are the conversions between the two, and the one range check
/// for times a caller sends.
/// </summary>
public static class UnixMs
{
    /// <summary>The last second accepted in a request: 9000-01-01T00:00:00Z.</summary>
    private const long MaxRequestSeconds = 221_845_392_000;

    /// <summary>The contract's timestamp for a stored Unix-ms time.</summary>
    public static Timestamp ToTimestamp(long unixMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));

    /// <summary>Unix milliseconds of <paramref name="timestamp"/> (sub-millisecond digits dropped).</summary>
    public static long ToUnixMs(this Timestamp timestamp) => timestamp.ToDateTimeOffset().ToUnixTimeMilliseconds();

    /// <summary>
    /// A time field of a request in Unix ms: null when unset; null with a violation on
    /// <paramref name="field"/> unless it lies between 1970 and 9000. Anything else is a typo,
    /// and the range keeps later arithmetic (cycles, windows) far from overflow.
    /// </summary>
    public static long? FromRequest(FieldViolations errors, string field, Timestamp? value)
    {
        if (value is null)
        {
            return null;
        }
        if (value.Seconds is < 0 or > MaxRequestSeconds || value.Nanos is < 0 or > 999_999_999)
        {
            errors.Add(field, "Must be a time between 1970 and 9000.");
            return null;
        }
        return value.ToUnixMs();
    }
}
