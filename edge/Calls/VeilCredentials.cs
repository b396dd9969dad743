using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;
using Microsoft.Extensions.Primitives;

namespace Veil.Edge.Calls;

/// <summary>
/// Where a consumer's Veil credentials travel: the API key in <c>X-Api-Key</c> or
/// <c>Authorization: Bearer veil_…</c>, and (never meant for an API, but sent anyway) a Veil
/// session token, <c>Authorization: Bearer</c> a JWT issued by identity. The key step reads the key
/// (<c>Auth/ApiKeyReader</c>); forwarding strips every Veil credential before the upstream.
/// </summary>
internal static class VeilCredentials
{
    public const string HeaderName = "X-Api-Key";
    public const string BearerPrefix = "Bearer ";
    public const string KeyPrefix = "veil_";

    // A JWT's header and payload are base64url JSON objects: "eyJ" is '{"'.
    private const string JwtPrefix = "eyJ";

    // Veil's access tokens carry a few short claims; a larger payload is not one of them.
    private const int MaxJwtPayloadChars = 4096;

    /// <summary>
    /// True when any of <paramref name="authorization"/>'s values carries a Veil key, or a JWT whose
    /// <c>iss</c> is <paramref name="issuer"/> (UTF-8): neither may travel upstream, where the
    /// provider could act as the consumer with it. The token's signature is not checked (a forged
    /// token naming Veil's issuer is stripped too, which costs its sender nothing it was owed).
    /// </summary>
    public static bool IsVeilCredential(StringValues authorization, ReadOnlySpan<byte> issuer)
    {
        foreach (var value in authorization)
        {
            if (value is null || !value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var token = value.AsSpan(BearerPrefix.Length).Trim();
            if (token.StartsWith(KeyPrefix, StringComparison.Ordinal) || IsJwtIssuedBy(token, issuer))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Whether <paramref name="token"/> is a JWT (JWS compact form) whose payload's <c>iss</c> is
    /// <paramref name="issuer"/>. Decodes the payload into a stack or pooled buffer and reads it
    /// with <see cref="Utf8JsonReader"/>: nothing is allocated.
    /// </summary>
    internal static bool IsJwtIssuedBy(ReadOnlySpan<char> token, ReadOnlySpan<byte> issuer)
    {
        if (!token.StartsWith(JwtPrefix, StringComparison.Ordinal))
        {
            return false;
        }
        var firstDot = token.IndexOf('.');
        if (firstDot < 0)
        {
            return false;
        }
        var rest = token[(firstDot + 1)..];
        var secondDot = rest.IndexOf('.');
        if (secondDot <= 0 || secondDot > MaxJwtPayloadChars)
        {
            return false;
        }
        var payload = rest[..secondDot];
        var rented = ArrayPool<byte>.Shared.Rent(Base64Url.GetMaxDecodedLength(payload.Length));
        try
        {
            if (Base64Url.DecodeFromChars(payload, rented, out var consumed, out var written) != OperationStatus.Done || consumed != payload.Length)
            {
                return false;
            }
            return HasIssuer(rented.AsSpan(0, written), issuer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool HasIssuer(ReadOnlySpan<byte> json, ReadOnlySpan<byte> issuer)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isIssuer = reader.ValueTextEquals("iss"u8);
                if (!reader.Read())
                {
                    return false;
                }
                if (isIssuer)
                {
                    return reader.TokenType == JsonTokenType.String && reader.ValueTextEquals(issuer);
                }
                reader.Skip();
            }
            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
