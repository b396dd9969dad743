using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Data;

/// <summary>One stored upstream credential: the value sealed, the hint computed when it was set.</summary>
public sealed record StoredCredential(
    [property: JsonPropertyName("location")] string Location,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("value")] string SealedValue,
    [property: JsonPropertyName("hint")] string Hint);

/// <summary>
/// The API secrets catalog keeps: upstream credential values and signing secrets, sealed with the
/// KEK (<see cref="SecretProtection"/>, AES-256-GCM under <c>Veil:Secrets:Kek</c>) with the API id
/// in the associated data, so a sealed value copied to another API does not open. Opened only to
/// build the gateway config for the edges (an internal, mesh-only stream), never to answer a read.
/// </summary>
public sealed class ApiSecrets(SecretProtection protection)
{
    /// <summary>Prefix of signing secrets: never "veil_", which the edge strips as a consumer key.</summary>
    public const string SigningSecretPrefix = "vsig_";

    /// <summary>Values at least this long show their first and last 4 characters; shorter ones only <see cref="ShortHint"/>.</summary>
    public const int HintMinLength = 20;

    public const string ShortHint = "••••";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The masked form of a value: first 4 … last 4 characters when it is long enough.</summary>
    public static string Hint(string value) =>
        value.Length >= HintMinLength ? string.Concat(value.AsSpan(0, 4), "…", value.AsSpan(value.Length - 4)) : ShortHint;

    /// <summary>Seals the credentials of <paramref name="apiId"/> into the JSON stored with a version.</summary>
    public string Seal(string apiId, IEnumerable<UpstreamCredential> credentials) =>
        JsonSerializer.Serialize(credentials.Select(c => new StoredCredential(
            Location(c.Location), c.Name, protection.ProtectString(c.Value, CredentialPurpose(apiId)), Hint(c.Value))).ToList(), Json);

    /// <summary>The stored credentials with values left out (what every read shows).</summary>
    public static IEnumerable<UpstreamCredential> Masked(string stored) =>
        Parse(stored).Select(c => new UpstreamCredential { Location = c.Location, Name = c.Name, ValueHint = c.Hint });

    /// <summary>The stored credentials with values opened (for the gateway config only).</summary>
    public IEnumerable<UpstreamCredential> Open(string apiId, string stored) =>
        Parse(stored).Select(c => new UpstreamCredential
        {
            Location = c.Location,
            Name = c.Name,
            Value = protection.UnprotectString(c.SealedValue, CredentialPurpose(apiId)),
        });

    /// <summary>A new signing secret: <see cref="SigningSecretPrefix"/> and 32 random bytes in base64url (43 characters).</summary>
    public static string NewSigningSecret() =>
        SigningSecretPrefix + System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public string SealSigningSecret(string apiId, string secret) => protection.ProtectString(secret, SigningPurpose(apiId));

    /// <summary>The HMAC key of a sealed signing secret: its UTF-8 bytes.</summary>
    public byte[] OpenSigningKey(string apiId, string sealedSecret) =>
        Encoding.UTF8.GetBytes(protection.UnprotectString(sealedSecret, SigningPurpose(apiId)));

    /// <summary>"header" for an empty location; otherwise the value as given (validation refuses others).</summary>
    public static string Location(string location) => location.Length == 0 ? "header" : location;

    private static List<StoredCredential> Parse(string stored) =>
        stored.Length == 0 ? [] : JsonSerializer.Deserialize<List<StoredCredential>>(stored, Json) ?? [];

    private static string CredentialPurpose(string apiId) => "catalog/upstream-credential/" + apiId;

    private static string SigningPurpose(string apiId) => "catalog/signing-secret/" + apiId;
}
