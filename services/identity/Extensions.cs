using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Veil.Identity;
using Veil.Identity.Data;
using Veil.Identity.Grpc;
using Veil.Identity.Security;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Microsoft.Extensions.Hosting;

/// <summary>Identity's own registrations and endpoints.</summary>
public static class IdentityExtensions
{
    /// <summary>Options, the store, token and key machinery, start-up work and self-validation of access tokens.</summary>
    public static TBuilder AddIdentityServices<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.AddOptions<IdentityOptions>()
            .BindConfiguration(IdentityOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => ApiKeyHasher.IsValidSecret(o.ApiKeyHashSecret),
                "Identity:ApiKeyHashSecret must be base64 of at least 32 bytes.")
            .Validate(o => string.IsNullOrEmpty(o.Admin.Email) || InputRules.CheckEmail(InputRules.NormalizeEmail(o.Admin.Email)) is null,
                "Identity:Admin:Email is not a valid email address.")
            .Validate(o => string.IsNullOrEmpty(o.Admin.Password) || o.Admin.Password.Length is >= Passwords.MinimumLength and <= Passwords.MaximumLength,
                $"Identity:Admin:Password must be {Passwords.MinimumLength} to {Passwords.MaximumLength} characters.")
            // The README's local password must never guard a real deployment.
            .Validate(o => builder.Environment.IsDevelopment() || o.Admin.Password != IdentityOptions.PublishedAdminPassword,
                $"Identity:Admin:Password is the published default '{IdentityOptions.PublishedAdminPassword}', which is refused outside the Development environment; set a secret password.")
            .Validate(o => o.RefreshTokenLifetime <= o.RefreshTokenAbsoluteLifetime,
                "Identity:RefreshTokenLifetime must not exceed Identity:RefreshTokenAbsoluteLifetime.")
            .Validate(o => Uri.TryCreate(o.PublicBaseUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" &&
                    string.IsNullOrEmpty(url.Query) && string.IsNullOrEmpty(url.Fragment),
                "Identity:PublicBaseUrl must be an absolute http(s) URL without query or fragment (the edge's public address).")
            .Validate(o => o.BillingManagers.All(m => !string.IsNullOrEmpty(m.Email) && InputRules.CheckEmail(InputRules.NormalizeEmail(m.Email)) is null),
                "Every Identity:BillingManagers entry needs a valid Email.")
            .Validate(o => o.BillingManagers.All(m => m.Password?.Length is >= Passwords.MinimumLength and <= Passwords.MaximumLength),
                $"Every Identity:BillingManagers entry needs a Password of {Passwords.MinimumLength} to {Passwords.MaximumLength} characters.")
            .ValidateOnStart();
        services.AddOptions<AuthLimitOptions>()
            .BindConfiguration(AuthLimitOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        services.AddOptions<SigningKeyOptions>()
            .BindConfiguration(SigningKeyOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => o.PublishAhead < o.RotationInterval,
                "Identity:SigningKeys:PublishAhead must be shorter than Identity:SigningKeys:RotationInterval.")
            .ValidateOnStart();
        // Signing keys and generated secrets are sealed with the KEK (Veil:Secrets:Kek) at rest.
        builder.AddVeilSecretProtection();

        services.AddOptions<ApiKeyOptions>()
            .BindConfiguration(ApiKeyOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => o.DefaultLifetime <= o.MaxLifetime, "Identity:ApiKeys:DefaultLifetime must not exceed MaxLifetime.")
            .Validate(o => o.RotationOverlap <= o.MaxRotationOverlap, "Identity:ApiKeys:RotationOverlap must not exceed MaxRotationOverlap.")
            .ValidateOnStart();

        // Every clock read in identity goes through TimeProvider, so tests can move time.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IdentityStore>();
        services.AddSingleton<SigningKeys>();
        services.AddSingleton<SigningKeyRotation>();
        services.AddSingleton<TokenIssuer>();
        services.AddSingleton<ApiKeyHasher>();
        services.AddSingleton<Passwords>();
        services.AddSingleton<IdentityMetrics>();
        services.AddSingleton<AuthLimits>();
        services.AddSingleton<ApiKeyUsageWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<ApiKeyUsageWriter>());
        // Revocations pushed to every edge (WatchKeyChanges).
        services.AddSingleton<ChangeFeed<KeyChange>>();
        services.AddHostedService<IdentityStartup>();
        // After IdentityStartup, which runs the schedule's first step before Kestrel listens.
        services.AddHostedService(sp => sp.GetRequiredService<SigningKeyRotation>());
        // The service's dependencies are internal types, so it is built here rather than by the activator.
        services.AddScoped(sp => new IdentityGrpcService(
            sp.GetRequiredService<IdentityStore>(), sp.GetRequiredService<Passwords>(), sp.GetRequiredService<TokenIssuer>(),
            sp.GetRequiredService<ApiKeyHasher>(), sp.GetRequiredService<SigningKeyRotation>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IdentityMetrics>(),
            sp.GetRequiredService<AuthLimits>(), sp.GetRequiredService<IOptions<IdentityOptions>>().Value,
            sp.GetRequiredService<ApiKeyUsageWriter>(), sp.GetRequiredService<IOptions<ApiKeyOptions>>().Value,
            sp.GetRequiredService<ChangeFeed<KeyChange>>(), sp.GetRequiredService<IHostApplicationLifetime>(),
            sp.GetRequiredService<ILogger<IdentityGrpcService>>()));

        // Identity validates its own tokens from its key store: fetching its own metadata over HTTP
        // would be a pointless round trip, and impossible before Kestrel listens.
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .PostConfigure<SigningKeys, IOptions<VeilAuthOptions>, TimeProvider>((jwt, keys, auth, time) =>
            {
                var configuration = new OpenIdConnectConfiguration { Issuer = auth.Value.Issuer };
                jwt.Authority = null;
                jwt.MetadataAddress = null!;
                jwt.Configuration = configuration;
                jwt.ConfigurationManager = new StaticConfigurationManager<OpenIdConnectConfiguration>(configuration);
                jwt.TimeProvider = time;
                // Lifetimes are judged by identity's clock (the one that stamped them), skew included.
                jwt.TokenValidationParameters.LifetimeValidator = (notBefore, expires, _, parameters) =>
                {
                    var now = time.GetUtcNow().UtcDateTime;
                    return expires is { } exp && exp > now - parameters.ClockSkew &&
                        (notBefore is not { } nbf || nbf <= now + parameters.ClockSkew);
                };
                // Resolved per token, so a key added by rotation is honoured without a restart.
                jwt.TokenValidationParameters.IssuerSigningKeyResolver = (_, _, kid, _) => keys.Resolve(kid);
            });
        // REST creates answer 201 (docs/architecture.md). A key has no read of its own (ListApiKeys): no Location.
        builder.Services.AddCreatedLocation<SignUpResponse>(_ => "/v1/accounts/me");
        builder.Services.AddCreatedLocation<CreateApiKeyResponse>(_ => "");
        return builder;
    }

    /// <summary>
    /// Maps <c>/.well-known/openid-configuration</c> and <c>/.well-known/jwks.json</c>, from which
    /// every other service takes the keys that validate access tokens.
    /// </summary>
    public static IEndpointRouteBuilder MapIdentityEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/.well-known/openid-configuration", (HttpContext http, IOptions<VeilAuthOptions> auth, IOptions<IdentityOptions> identity) =>
        {
            http.Response.Headers.CacheControl = "public, max-age=300";
            return Results.Json(new Dictionary<string, object>
            {
                ["issuer"] = auth.Value.Issuer,
                // From configuration only: a Host or X-Forwarded-* header must not steer a cached
                // metadata document (or a client following it) to another key set.
                ["jwks_uri"] = identity.Value.PublicBaseUrl.TrimEnd('/') + "/.well-known/jwks.json",
                ["id_token_signing_alg_values_supported"] = new[] { "ES256" },
                ["token_endpoint_auth_methods_supported"] = Array.Empty<string>(),
                ["scopes_supported"] = new[] { VeilClaims.Scopes.ApiRead, VeilClaims.Scopes.ApiWrite, VeilClaims.Scopes.KeysManage, VeilClaims.Scopes.UsageRead },
                ["claims_supported"] = new[] { VeilClaims.Subject, VeilClaims.Role, VeilClaims.Scope, VeilClaims.Email },
            });
        }).ExcludeFromDescription();

        app.MapGet("/.well-known/jwks.json", (HttpContext http, SigningKeys keys) =>
        {
            // Short enough that a rotation reaches every validator quickly (a new key is published
            // Identity:SigningKeys:PublishAhead before it signs); validators also refetch on an unknown kid.
            http.Response.Headers.CacheControl = "public, max-age=300";
            return Results.Json(new { keys = keys.PublicJwks() });
        }).ExcludeFromDescription();
        return app;
    }
}
