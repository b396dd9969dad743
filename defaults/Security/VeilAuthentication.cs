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
    /// <summary>How often the signing keys are refetched: well within identity's one-hour publish-ahead.</summary>
    public static readonly TimeSpan SigningKeyRefresh = TimeSpan.FromMinutes(10);

    /// <summary>Identity's HTTP base URL: <c>Veil:Auth:Authority</c>, else service discovery, else localhost.</summary>
    public static string AuthorityOf(VeilAuthOptions options, IConfiguration configuration) =>
        (options.Authority ?? configuration["services:identity:http:0"] ?? "http://localhost:5101").TrimEnd('/');

    /// <summary>
    /// Identity's OpenID metadata with the signing keys read from identity's own JWKS address (the
    /// metadata's jwks_uri is the public address, through the edge), refetched every <see cref="SigningKeyRefresh"/>.
    /// </summary>
    public static ConfigurationManager<OpenIdConnectConfiguration> SigningKeys(string authority, TimeSpan timeout, TimeSpan refreshInterval)
    {
        var requireHttps = authority.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        return new ConfigurationManager<OpenIdConnectConfiguration>(
            authority + "/.well-known/openid-configuration",
            new AuthorityJwksRetriever(authority + "/.well-known/jwks.json"),
            new HttpDocumentRetriever(new HttpClient { Timeout = timeout, MaxResponseContentBufferSize = 1024 * 1024 })
            {
                RequireHttps = requireHttps,
            })
        {
            RefreshInterval = refreshInterval,
            AutomaticRefreshInterval = SigningKeyRefresh,
        };
    }

    /// <summary>What every validator checks in a Veil access token (the keys come from <see cref="SigningKeys"/>).</summary>
    public static TokenValidationParameters AccessTokenValidation(VeilAuthOptions options) => new()
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

        var authority = AuthorityOf(options, configuration);
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.MetadataAddress = authority + "/.well-known/openid-configuration";
                // Inside the fleet identity is reached over the mesh (mTLS by Istio) or loopback.
                jwt.RequireHttpsMetadata = authority.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
                // Identity publishes a new signing key an hour (Identity:SigningKeys:PublishAhead)
                // before it signs: refetch the JWKS well within that, not every 12 h (the default).
                jwt.AutomaticRefreshInterval = SigningKeyRefresh;
                jwt.ConfigurationManager = SigningKeys(authority, jwt.BackchannelTimeout, jwt.RefreshInterval);
                jwt.TokenValidationParameters = AccessTokenValidation(options);
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
