using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Veil.Samples.Upstream;

public static class VeilSignature
{
    /// <summary>
    /// True when <paramref name="header"/> (X-Veil-Signature) holds a v1 signature made with
    /// <paramref name="secret"/> over this request, at most 5 minutes from <paramref name="now"/>.
    /// <paramref name="target"/> is the raw request target (path and query exactly as received);
    /// consumer, subscription, plan and request id are the X-Veil-Consumer, X-Veil-Subscription,
    /// X-Veil-Plan and X-Request-Id headers.
    /// </summary>
    public static bool Verify(string secret, string? header, string method, string target,
        string consumer, string subscription, string plan, string requestId, DateTimeOffset now)
    {
        var parts = (header ?? "").Split(',');
        if (!parts[0].StartsWith("t=", StringComparison.Ordinal) ||
            !long.TryParse(parts[0].AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var t) ||
            Math.Abs(now.ToUnixTimeSeconds() - t) > 300)
        {
            return false;
        }
        var canonical = string.Join('\n', parts[0][2..], method, target, consumer, subscription, plan, requestId);
        var expected = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(
            HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(canonical))));
        return parts.Skip(1).Any(p => p.StartsWith("v1=", StringComparison.Ordinal) &&
            CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(p[3..]), expected));
    }
}
