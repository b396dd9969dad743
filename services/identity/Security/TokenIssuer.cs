using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Veil.Identity.Data;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Security;

/// <summary>
/// Makes sessions: ES256 JWT access tokens signed with the current key (header <c>kid</c>, <c>typ</c>
/// <c>at+jwt</c>, RFC 9068) and
/// opaque refresh tokens (32 random bytes, base64url) of which only the SHA-256 is stored.
/// </summary>
internal sealed class TokenIssuer(SigningKeys keys, IOptions<VeilAuthOptions> auth, IOptions<IdentityOptions> options)
{
    // Times come from the caller's TimeProvider, never from the handler's own clock.
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };

    /// <summary>A signed access token for <paramref name="account"/>, valid from <paramref name="now"/>.</summary>
    public (string Token, DateTimeOffset ExpiresAt) CreateAccessToken(AccountRecord account, DateTimeOffset now)
    {
        // JWT times are whole seconds; the session reports exactly the exp the token carries.
        now = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var expiresAt = now + options.Value.AccessTokenLifetime;
        var descriptor = new SecurityTokenDescriptor
        {
            TokenType = VeilClaims.AccessTokenType,
            Issuer = auth.Value.Issuer,
            Audience = auth.Value.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expiresAt.UtcDateTime,
            SigningCredentials = new SigningCredentials(keys.Current, SecurityAlgorithms.EcdsaSha256),
            Claims = new Dictionary<string, object>
            {
                [VeilClaims.Subject] = account.Id,
                [VeilClaims.Role] = account.Role,
                [VeilClaims.Scope] = string.Join(' ', Roles.ScopesOf(account.Role)),
                [VeilClaims.Email] = account.Email,
                [JwtRegisteredClaimNames.Jti] = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(16)),
            },
        };
        return (_handler.CreateToken(descriptor), expiresAt);
    }

    /// <summary>The session message for a fresh access token and the given refresh token.</summary>
    public Session CreateSession(AccountRecord account, string refreshToken, DateTimeOffset refreshExpiresAt, DateTimeOffset now)
    {
        var (accessToken, accessExpiresAt) = CreateAccessToken(account, now);
        return new Session
        {
            AccessToken = accessToken,
            AccessTokenExpireTime = Timestamp.FromDateTimeOffset(accessExpiresAt),
            RefreshToken = refreshToken,
            RefreshTokenExpireTime = Timestamp.FromDateTimeOffset(refreshExpiresAt),
            TokenType = "Bearer",
        };
    }

    /// <summary>When a refresh token made at <paramref name="now"/> expires (sliding; the store caps it at the session's end).</summary>
    public DateTimeOffset RefreshExpiry(DateTimeOffset now) => now + options.Value.RefreshTokenLifetime;

    /// <summary>When a session started at <paramref name="now"/> ends, however often its refresh token is rotated.</summary>
    public DateTimeOffset SessionExpiry(DateTimeOffset now) => now + options.Value.RefreshTokenAbsoluteLifetime;

    /// <summary>A new refresh token: 32 random bytes, base64url (43 characters).</summary>
    public static string NewRefreshToken() => Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));

    /// <summary>True when <paramref name="token"/> has the shape of a refresh token (checked before any lookup).</summary>
    public static bool IsRefreshTokenShaped(string token) =>
        token.Length == 43 && token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>What is stored for a refresh token: hex SHA-256. The token has 256 bits of entropy, so no salt or key is needed.</summary>
    public static string HashRefreshToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(token)));
}
