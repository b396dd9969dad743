using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using Veil.Identity.Data;

namespace Veil.Identity.Security;

/// <summary>
/// The ES256 keys that sign access tokens. Generated on first start and kept in the identity
/// database, so tokens stay valid across restarts and replicas sharing the database agree.
/// The newest key signs; every active key is published in the JWKS.
/// </summary>
/// <remarks>
/// The ECDsa objects are never disposed: IdentityModel's process-wide signature-provider cache is
/// keyed by the key's thumbprint and keeps using the object it first saw, so disposing one (on a
/// reload, or when a host stops and another starts in the same process) breaks signing.
/// </remarks>
internal sealed class SigningKeys(IdentityStore store, TimeProvider time)
{
    private IReadOnlyList<ECDsaSecurityKey> _keys = [];

    /// <summary>The key new tokens are signed with.</summary>
    public ECDsaSecurityKey Current => _keys.Count > 0 ? _keys[0] : throw new InvalidOperationException("Signing keys are not loaded yet.");

    /// <summary>Every key a token may be signed with.</summary>
    public IReadOnlyList<ECDsaSecurityKey> All => _keys;

    /// <summary>Loads the keys, creating the first one when the database has none.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var records = await store.GetOrCreateSigningKeysAsync(Create, cancellationToken);
        var keys = new List<ECDsaSecurityKey>(records.Count);
        foreach (var record in records)
        {
            var ecdsa = ECDsa.Create();
            ecdsa.ImportPkcs8PrivateKey(record.PrivateKey, out _);
            keys.Add(new ECDsaSecurityKey(ecdsa) { KeyId = record.Kid });
        }
        _keys = keys;
    }

    /// <summary>The key with <paramref name="kid"/>, or every key when the token names none.</summary>
    public IEnumerable<SecurityKey> Resolve(string? kid) =>
        string.IsNullOrEmpty(kid) ? _keys : _keys.Where(k => string.Equals(k.KeyId, kid, StringComparison.Ordinal));

    /// <summary>The public halves as JWKs (kty EC, crv P-256, x, y, kid, alg ES256, use sig).</summary>
    public IReadOnlyList<Dictionary<string, string>> PublicJwks() =>
        [.. _keys.Select(key =>
        {
            var p = key.ECDsa.ExportParameters(includePrivateParameters: false);
            return new Dictionary<string, string>
            {
                ["kty"] = "EC",
                ["crv"] = "P-256",
                ["x"] = Base64UrlEncoder.Encode(p.Q.X),
                ["y"] = Base64UrlEncoder.Encode(p.Q.Y),
                ["kid"] = key.KeyId,
                ["alg"] = SecurityAlgorithms.EcdsaSha256,
                ["use"] = "sig",
            };
        })];

    private SigningKeyRecord Create()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var kid = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(12));
        return new SigningKeyRecord(kid, ecdsa.ExportPkcs8PrivateKey(), time.GetUtcNow());
    }
}
