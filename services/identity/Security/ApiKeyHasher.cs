using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Veil.Identity.Data;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Security;

/// <summary>
/// API keys are stored only as HMAC-SHA256 under a server secret (<c>Identity:ApiKeyHashSecret</c>),
/// so a leaked database alone does not let anyone test guessed keys. When no secret is configured
/// one is generated on first start and kept in the database sealed with the KEK
/// (<see cref="SecretProtection"/>), so the database files alone still do not reveal it.
/// </summary>
internal sealed class ApiKeyHasher(IdentityStore store, SecretProtection protection, IOptions<IdentityOptions> options, TimeProvider time, ILogger<ApiKeyHasher> logger)
{
    public const string SecretName = "api_key_hash_secret";
    public const int MinimumSecretBytes = 32;

    private byte[]? _secret;

    /// <summary>Loads the configured secret, or the one kept (sealed) in the database, created when absent.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var configured = options.Value.ApiKeyHashSecret;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            _secret = Convert.FromBase64String(configured);
            return;
        }
        const string purpose = IdentityStore.SecretPurpose + SecretName;
        var (stored, created) = await store.GetOrCreateSecretAsync(SecretName,
            () => protection.Protect(RandomNumberGenerator.GetBytes(MinimumSecretBytes), purpose), time.GetUtcNow(), cancellationToken);
        IdentityLog.ApiKeyHashSecretNotConfigured(logger, created);
        _secret = protection.Unprotect(stored, purpose);
    }

    /// <summary>Hex HMAC-SHA256 of a well-formed key (ASCII by construction).</summary>
    public string Hash(string key)
    {
        var secret = _secret ?? throw new InvalidOperationException("The API key hash secret is not loaded yet.");
        Span<byte> ascii = stackalloc byte[ApiKeyFormat.Length];
        var written = Encoding.ASCII.GetBytes(key, ascii);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(secret, ascii[..written], mac);
        return Convert.ToHexStringLower(mac);
    }

    /// <summary>True when <paramref name="base64"/> decodes to at least <see cref="MinimumSecretBytes"/> bytes.</summary>
    public static bool IsValidSecret(string? base64)
    {
        if (string.IsNullOrWhiteSpace(base64))
        {
            return true;
        }
        Span<byte> buffer = new byte[base64.Length];
        return Convert.TryFromBase64String(base64, buffer, out var length) && length >= MinimumSecretBytes;
    }
}
