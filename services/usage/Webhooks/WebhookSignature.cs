using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Usage.Webhooks;

/// <summary>
/// Signatures of webhook deliveries, as Standard Webhooks (standardwebhooks.com) defines them, so
/// receivers can verify with a stock library: <c>webhook-id</c>, <c>webhook-timestamp</c> (Unix
/// seconds) and <c>webhook-signature: v1,&lt;base64 HMAC-SHA256 of "id.timestamp.body"&gt;</c>.
/// The HMAC key is the secret's bytes: for a secret <c>whsec_&lt;base64&gt;</c> the decoded bytes
/// (what the stock libraries take), for any other secret its UTF-8 bytes.
/// </summary>
public static class WebhookSignature
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    /// <summary>Prefix of a secret in the Standard Webhooks form.</summary>
    public const string SecretPrefix = "whsec_";

    /// <summary>Standard Webhooks' bounds for a secret's key (bytes).</summary>
    public const int MinKeyBytes = 24;
    public const int MaxKeyBytes = 64;

    /// <summary>The HMAC key of <paramref name="secret"/>.</summary>
    public static byte[] KeyOf(string secret) =>
        TryDecode(secret, out var key) ? key : Encoding.UTF8.GetBytes(secret);

    /// <summary>The <c>webhook-signature</c> value: <c>v1,</c> + base64 HMAC-SHA256 of <c>id.timestamp.body</c>.</summary>
    public static string Sign(byte[] key, string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(id + "." + timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
    }

    /// <summary>The legacy <c>X-Veil-Signature</c> value: <c>sha256=</c> + hex HMAC-SHA256 of the body keyed with the secret's UTF-8 bytes.</summary>
    public static string SignLegacy(string secret, ReadOnlySpan<byte> body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>Records a malformed <c>whsec_</c> secret under the proto field name <c>secret</c>.</summary>
    public static void CheckSecret(FieldViolations errors, string secret)
    {
        if (secret.StartsWith(SecretPrefix, StringComparison.Ordinal) && !TryDecode(secret, out _))
        {
            errors.Add("secret", $"A secret starting with {SecretPrefix} must continue with the base64 of {MinKeyBytes} to {MaxKeyBytes} random bytes, e.g. {SecretPrefix} followed by the output of: openssl rand -base64 32.");
        }
    }

    private static bool TryDecode(string secret, out byte[] key)
    {
        key = [];
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return false;
        }
        var buffer = new byte[secret.Length];
        if (!Convert.TryFromBase64String(secret[SecretPrefix.Length..], buffer, out var length) || length is < MinKeyBytes or > MaxKeyBytes)
        {
            return false;
        }
        key = buffer[..length];
        return true;
    }
}
