using System.Security.Claims;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Veil.ServiceDefaults.Security;

/// <summary>
/// Validates a Veil access token on demand, with the rules and keys of <see cref="VeilAuthenticationExtensions.AddVeilAuthentication"/>,
/// for a host that checks tokens on a few paths only (the edge serves <c>GET /v1/apis/{api_id}/health</c>
/// itself): registering the authentication services would put the authentication middleware in
/// front of every request it serves.
/// </summary>
public sealed class VeilAccessTokens
{
    private static readonly TimeSpan BackchannelTimeout = TimeSpan.FromSeconds(60);

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TokenValidationParameters _parameters;

    public VeilAccessTokens(IOptions<VeilAuthOptions> options, IConfiguration configuration)
    {
        var authority = VeilAuthenticationExtensions.AuthorityOf(options.Value, configuration);
        _parameters = VeilAuthenticationExtensions.AccessTokenValidation(options.Value);
        // What JwtBearer does with its ConfigurationManager: keys (and a refetch on an unknown kid) from identity.
        _parameters.ConfigurationManager = VeilAuthenticationExtensions.SigningKeys(authority, BackchannelTimeout, TimeSpan.FromMinutes(5));
    }

    /// <summary>The caller behind an <c>Authorization: Bearer</c> header, or null when there is no valid access token.</summary>
    public async Task<Caller?> ValidateAsync(string? authorization, CancellationToken cancellationToken)
    {
        const string Bearer = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var token = authorization[Bearer.Length..].Trim();
        if (token.Length == 0)
        {
            return null;
        }
        cancellationToken.ThrowIfCancellationRequested();
        var result = await _handler.ValidateTokenAsync(token, _parameters);
        return result.IsValid ? Caller.TryFrom(new ClaimsPrincipal(result.ClaimsIdentity)) : null;
    }
}
