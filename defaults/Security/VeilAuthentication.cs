using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Veil.ServiceDefaults.Security;

/// <summary>Settings shared by the token issuer (identity) and every token validator, bound from <c>Veil:Auth</c>.</summary>
public sealed class VeilAuthOptions
{
    /// <summary>The <c>iss</c> of access tokens.</summary>
    public string Issuer { get; set; } = VeilClaims.DefaultIssuer;

    /// <summary>The <c>aud</c> of access tokens.</summary>
    public string Audience { get; set; } = VeilClaims.DefaultAudience;

    /// <summary>
    /// Base URL of identity's HTTP endpoint, where <c>/.well-known/openid-configuration</c> and the
    /// JWKS are served. Defaults to service discovery (<c>services:identity:http:0</c>), then localhost.
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>Allowed clock skew when validating lifetimes (≤ 30 s by design).</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>JWT bearer authentication against identity's published signing keys.</summary>
public static class VeilAuthenticationExtensions
{
    /// <summary>
    /// Validates Veil access tokens (ES256, <c>kid</c>, header <c>typ</c> <c>at+jwt</c>, issuer, audience, lifetime) with the keys
    /// identity publishes in its JWKS, fetched and refreshed by the JwtBearer handler.
    /// Identity itself replaces the metadata with its own key store.
    /// </summary>
    public static IServiceCollection AddVeilAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        var options = new VeilAuthOptions();
        configuration.GetSection("Veil:Auth").Bind(options);
        services.AddOptions<VeilAuthOptions>().BindConfiguration("Veil:Auth");

        var authority = (options.Authority ?? configuration["services:identity:http:0"] ?? "http://localhost:5101").TrimEnd('/');
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.MetadataAddress = authority + "/.well-known/openid-configuration";
                // Inside the fleet identity is reached over the mesh (mTLS by Istio) or loopback.
                jwt.RequireHttpsMetadata = authority.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
                // Identity publishes a new signing key an hour (Identity:SigningKeys:PublishAhead)
                // before it signs: refetch the JWKS well within that, not every 12 h (the default).
                jwt.AutomaticRefreshInterval = TimeSpan.FromMinutes(10);
                // The metadata's jwks_uri is the public address (through the edge); validators inside
                // the fleet take the keys from identity itself, at the same authority as the metadata.
                jwt.ConfigurationManager = new ConfigurationManager<OpenIdConnectConfiguration>(
                    jwt.MetadataAddress,
                    new AuthorityJwksRetriever(authority + "/.well-known/jwks.json"),
                    new HttpDocumentRetriever(new HttpClient { Timeout = jwt.BackchannelTimeout, MaxResponseContentBufferSize = 1024 * 1024 })
                    {
                        RequireHttps = jwt.RequireHttpsMetadata,
                    })
                {
                    RefreshInterval = jwt.RefreshInterval,
                    AutomaticRefreshInterval = jwt.AutomaticRefreshInterval,
                };
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = options.Issuer,
                    ValidAudience = options.Audience,
                    ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
                    // Only access tokens (RFC 9068): a JWT of another type signed by the same keys is refused.
                    ValidTypes = [VeilClaims.AccessTokenType],
                    ClockSkew = options.ClockSkew,
                    NameClaimType = VeilClaims.Subject,
                    RoleClaimType = VeilClaims.Role,
                };
            });
        services.AddAuthorization();
        return services;
    }
}

/// <summary>
/// Reads identity's OpenID metadata, then the signing keys from identity's own JWKS address rather
/// than the metadata's <c>jwks_uri</c>, which names the public base URL (<c>Identity:PublicBaseUrl</c>).
/// </summary>
public sealed class AuthorityJwksRetriever(string jwksAddress) : IConfigurationRetriever<OpenIdConnectConfiguration>
{
    /// <summary>The metadata at <paramref name="address"/>, with the signing keys read from the JWKS address given at construction.</summary>
    public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
    {
        var configuration = OpenIdConnectConfiguration.Create(await retriever.GetDocumentAsync(address, cancel));
        configuration.JsonWebKeySet = JsonWebKeySet.Create(await retriever.GetDocumentAsync(jwksAddress, cancel));
        foreach (var key in configuration.JsonWebKeySet.GetSigningKeys())
        {
            configuration.SigningKeys.Add(key);
        }
        return configuration;
    }
}
