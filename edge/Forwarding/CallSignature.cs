using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Veil.Edge.Forwarding;

/// <summary>
/// The <c>X-Veil-Signature</c> header of a signed call (docs/policies.md, "Signed calls"):
/// <c>t={unix seconds},v1={hex HMAC-SHA256}</c>, with a second <c>v1=</c> under the previous key
/// during a rotation's overlap. The HMAC is over the canonical string, the newline-joined
/// timestamp, method, request target (path and query exactly as sent upstream), consumer id,
/// subscription id, plan id and request id, in UTF-8. One string is allocated: the header. The
/// HMACs are <see cref="Keys"/> made once per config apply: keyed <see cref="IncrementalHash"/>
/// objects reused per thread (half the cost of a one-shot <c>HMACSHA256.HashData</c>, which sets
/// the key up on every call).
/// </summary>
internal static class CallSignature
{
    public const string HeaderName = "X-Veil-Signature";

    private const int HashBytes = 32;
    private const int StackLimit = 1024;

    /// <summary>
    /// A route's signing keys, current first, as HMAC-SHA256 objects: one set per thread that signs
    /// (an <see cref="IncrementalHash"/> is not thread-safe), made on that thread's first call.
    /// </summary>
    public sealed class Keys(IReadOnlyList<byte[]> keys)
    {
        private readonly ThreadLocal<IncrementalHash[]> _hmacs = new(() =>
            [.. keys.Select(key => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key))]);

        public int Count => keys.Count;

        /// <summary>This thread's HMACs, reset and ready.</summary>
        public IncrementalHash[] ForThisThread => _hmacs.Value!;
    }

    public static string Create(Keys keys, long unixSeconds, string method, string target,
        string consumerId, string subscriptionId, string planId, string requestId)
    {
        Span<char> timestamp = stackalloc char[20];
        unixSeconds.TryFormat(timestamp, out var timestampLength, provider: System.Globalization.CultureInfo.InvariantCulture);
        timestamp = timestamp[..timestampLength];

        var length = timestamp.Length + 6 + Max(method) + Max(target) + Max(consumerId) + Max(subscriptionId) + Max(planId) + Max(requestId);
        byte[]? rented = null;
        var buffer = length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var written = Encoding.UTF8.GetBytes(timestamp, buffer);
            written += Append(buffer[written..], method);
            written += Append(buffer[written..], target);
            written += Append(buffer[written..], consumerId);
            written += Append(buffer[written..], subscriptionId);
            written += Append(buffer[written..], planId);
            written += Append(buffer[written..], requestId);
            var canonical = buffer[..written];

            // "t=" + timestamp + per key ",v1=" + 64 hex.
            Span<char> header = stackalloc char[2 + timestamp.Length + keys.Count * (4 + HashBytes * 2)];
            "t=".CopyTo(header);
            timestamp.CopyTo(header[2..]);
            var at = 2 + timestamp.Length;
            Span<byte> hash = stackalloc byte[HashBytes];
            foreach (var hmac in keys.ForThisThread)
            {
                hmac.AppendData(canonical);
                hmac.GetHashAndReset(hash);
                ",v1=".CopyTo(header[at..]);
                at += 4;
                Convert.TryToHexStringLower(hash, header[at..], out var hexLength);
                at += hexLength;
            }
            return new string(header[..at]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static int Max(string value) => Encoding.UTF8.GetMaxByteCount(value.Length);

    private static int Append(Span<byte> destination, string value)
    {
        destination[0] = (byte)'\n';
        return 1 + Encoding.UTF8.GetBytes(value, destination[1..]);
    }
}
