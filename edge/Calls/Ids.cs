using System.Buffers.Binary;

namespace Veil.Edge.Calls;

/// <summary>
/// Ids made on the request path without a system call. <see cref="Guid.NewGuid"/> reads the
/// kernel's random source on every call (a read of /dev/urandom per request on Linux, measured);
/// these take their random bits from <see cref="Random.Shared"/>, a per-thread generator seeded
/// from that source once. Ids need to be unique, not unpredictable: 122 (request) and 74 (event,
/// per millisecond) random bits make a collision practically impossible.
/// </summary>
internal static class Ids
{
    /// <summary>A new request id: 32 lowercase hex digits (the form <c>Guid.ToString("N")</c> had).</summary>
    public static string NewRequestId()
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>
    /// A UUIDv7 (RFC 9562) for <paramref name="at"/>: 48 bits of Unix milliseconds, version 7, 74
    /// random bits; the usual 36-character form, ordered by time like <see cref="Guid.CreateVersion7(DateTimeOffset)"/>.
    /// </summary>
    public static string NewEventId(DateTimeOffset at)
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes[6..]);
        var ms = (ulong)at.ToUnixTimeMilliseconds();
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)(ms >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(bytes[2..], (uint)ms);
        bytes[6] = (byte)(0x70 | (bytes[6] & 0x0F));
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));
        return new Guid(bytes, bigEndian: true).ToString();
    }
}
