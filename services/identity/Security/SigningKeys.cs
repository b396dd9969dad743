using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using Veil.Identity.Data;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Security;

/// <summary>
/// The ES256 keys that sign access tokens, as the rotation schedule left them in the identity
/// database (private keys sealed with the KEK, <see cref="SecretProtection"/>): every stored key is
/// published in the JWKS; the newest one whose activation time has passed signs.
/// </summary>
/// <remarks>
/// The ECDsa objects are never disposed: IdentityModel's process-wide signature-provider cache is
/// keyed by the key's thumbprint and keeps using the object it first saw, so disposing one (on a
/// reload, or when a host stops and another starts in the same process) breaks signing.
/// </remarks>
internal sealed class SigningKeys(SecretProtection protection, TimeProvider time)
{
    private readonly Dictionary<string, ECDsaSecurityKey> _opened = new(StringComparer.Ordinal);
    private volatile IReadOnlyList<(SigningKeyRecord Record, ECDsaSecurityKey Key)> _keys = [];

    /// <summary>The key new tokens are signed with: the newest one already active.</summary>
    public ECDsaSecurityKey Current
    {
        get
        {
            var keys = _keys;
            if (keys.Count == 0)
            {
                throw new InvalidOperationException("Signing keys are not loaded yet.");
            }
            var now = time.GetUtcNow();
            // Oldest activation first; a clock set back before every activation still signs with the oldest.
            var current = keys[0].Key;
            foreach (var (record, key) in keys)
            {
                if (record.ActivatesAt <= now)
                {
                    current = key;
                }
            }
            return current;
        }
    }

    /// <summary>Every published key: pending, signing and retired-but-not-yet-expired ones.</summary>
    public IReadOnlyList<ECDsaSecurityKey> All => [.. _keys.Select(k => k.Key)];

    /// <summary>The stored records behind <see cref="All"/>, oldest activation first.</summary>
    public IReadOnlyList<SigningKeyRecord> Records => [.. _keys.Select(k => k.Record)];

    /// <summary>Replaces the published set with <paramref name="records"/> (private keys opened with the KEK).</summary>
    public void Apply(IReadOnlyList<SigningKeyRecord> records)
    {
        lock (_opened)
        {
            var keys = new List<(SigningKeyRecord, ECDsaSecurityKey)>(records.Count);
            foreach (var record in records)
            {
                if (!_opened.TryGetValue(record.Kid, out var key))
                {
                    var pkcs8 = protection.Unprotect(record.PrivateKey, IdentityStore.SigningKeyPurpose + record.Kid);
                    try
                    {
                        var ecdsa = ECDsa.Create();
                        ecdsa.ImportPkcs8PrivateKey(pkcs8, out _);
                        key = new ECDsaSecurityKey(ecdsa) { KeyId = record.Kid };
                    }
                    finally
                    {
                        CryptographicOperations.ZeroMemory(pkcs8);
                    }
                    _opened[record.Kid] = key;
                }
                keys.Add((record, key));
            }
            foreach (var removed in _opened.Keys.Except(records.Select(r => r.Kid), StringComparer.Ordinal).ToList())
            {
                _opened.Remove(removed);
            }
            _keys = keys;
        }
    }

    /// <summary>A new P-256 key, its private key sealed for storage, signing from <paramref name="activatesAt"/>.</summary>
    public SigningKeyRecord Create(DateTimeOffset now, DateTimeOffset activatesAt)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var kid = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(12));
        var pkcs8 = ecdsa.ExportPkcs8PrivateKey();
        try
        {
            return new SigningKeyRecord(kid, protection.Protect(pkcs8, IdentityStore.SigningKeyPurpose + kid), now, activatesAt);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    /// <summary>The key with <paramref name="kid"/>, or every key when the token names none.</summary>
    public IEnumerable<SecurityKey> Resolve(string? kid) =>
        string.IsNullOrEmpty(kid) ? All : _keys.Where(k => string.Equals(k.Key.KeyId, kid, StringComparison.Ordinal)).Select(k => k.Key);

    /// <summary>The public halves as JWKs (kty EC, crv P-256, x, y, kid, alg ES256, use sig).</summary>
    public IReadOnlyList<Dictionary<string, string>> PublicJwks() =>
        [.. _keys.Select(k =>
        {
            var p = k.Key.ECDsa.ExportParameters(includePrivateParameters: false);
            return new Dictionary<string, string>
            {
                ["kty"] = "EC",
                ["crv"] = "P-256",
                ["x"] = Base64UrlEncoder.Encode(p.Q.X),
                ["y"] = Base64UrlEncoder.Encode(p.Q.Y),
                ["kid"] = k.Key.KeyId,
                ["alg"] = SecurityAlgorithms.EcdsaSha256,
                ["use"] = "sig",
            };
        })];
}
