using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Calls;

/// <summary>
/// An API's upstream policies as the forwarding step applies them (docs/policies.md): credential
/// headers and query parameters in clear, and the signing keys (current first, then the previous
/// one during a rotation's overlap); with them the API's CORS policy (docs/cors.md), which the CORS
/// step finds on the route's endpoint, and its transforms (docs/transforms.md). Built once per
/// config apply by routing from catalog's <see cref="GatewayRoute"/>, never per request.
/// </summary>
internal sealed class UpstreamPolicy
{
    /// <summary>Keys the fingerprints: random per process, so a fingerprint says nothing about a secret.</summary>
    private static readonly byte[] FingerprintKey = RandomNumberGenerator.GetBytes(32);

    private UpstreamPolicy(KeyValuePair<string, string>[] headers, KeyValuePair<string, string>[] query, byte[][] signingKeys,
        ApiCors? cors, ApiTransforms? transforms, GatewayRoute route)
    {
        Headers = headers;
        Query = query;
        SigningKeys = signingKeys;
        Cors = cors;
        Transforms = transforms;
        var text = new StringBuilder();
        if (cors is not null)
        {
            text.Append("c\n").Append(Google.Protobuf.JsonFormatter.Default.Format(route.Policies.Cors)).Append('\n');
        }
        if (transforms is not null)
        {
            text.Append("t\n").Append(Google.Protobuf.JsonFormatter.Default.Format(route.Policies.Transforms)).Append('\n');
        }
        foreach (var (name, value) in headers)
        {
            text.Append("h\n").Append(name).Append('\n').Append(value).Append('\n');
        }
        foreach (var (name, value) in query)
        {
            text.Append("q\n").Append(name).Append('\n').Append(value).Append('\n');
        }
        foreach (var key in signingKeys)
        {
            text.Append("k\n").Append(Convert.ToBase64String(key)).Append('\n');
        }
        Fingerprint = Convert.ToHexStringLower(HMACSHA256.HashData(FingerprintKey, Encoding.UTF8.GetBytes(text.ToString())).AsSpan(0, 16));
    }

    /// <summary>
    /// Names this policy's content (keyed hash): a route whose fingerprint changes is rebuilt by
    /// YARP even when its config version did not (an overlap ended), and forwarding finds the
    /// policy by it.
    /// </summary>
    public string Fingerprint { get; }

    /// <summary>Credential headers, set on every upstream call (replacing any the consumer sent).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>Credential query parameters, set on every upstream call (replacing any the consumer sent).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Query { get; }

    /// <summary>HMAC-SHA256 keys, current first; empty when the API's calls are not signed.</summary>
    public IReadOnlyList<byte[]> SigningKeys { get; }

    /// <summary>The API's CORS policy; null when it has none.</summary>
    public ApiCors? Cors { get; }

    /// <summary>The API's header and path transforms; null when it has none.</summary>
    public ApiTransforms? Transforms { get; }

    /// <summary>True when there are credentials to add or calls to sign.</summary>
    public bool HasCredentials => Headers.Count > 0 || Query.Count > 0 || SigningKeys.Count > 0;

    /// <summary>True when there is nothing to apply (the API has no policies).</summary>
    public bool IsEmpty => !HasCredentials && Cors is null && Transforms is null;

    /// <summary>
    /// The policy of <paramref name="route"/>, or why it cannot be applied. Catalog validated it;
    /// the edge checks again what would break the request or let a credential overwrite the
    /// edge's own headers (a config it cannot apply must not be served half-applied).
    /// </summary>
    public static bool TryCreate(GatewayRoute route, [NotNullWhen(true)] out UpstreamPolicy? policy, [NotNullWhen(false)] out string? problem)
    {
        policy = null;
        var headers = new List<KeyValuePair<string, string>>();
        var query = new List<KeyValuePair<string, string>>();
        foreach (var credential in route.UpstreamCredentials)
        {
            if (credential.Name.Length == 0 || credential.Value.Length == 0 || credential.Value.Any(char.IsControl))
            {
                problem = "an upstream credential has an empty name, an empty value or a control character";
                return false;
            }
            switch (credential.Location)
            {
                case "" or "header":
                    if (!UpstreamCredentialNames.IsHeaderToken(credential.Name) || UpstreamCredentialNames.IsReservedHeader(credential.Name))
                    {
                        problem = "an upstream credential header name is invalid or reserved";
                        return false;
                    }
                    headers.Add(new(credential.Name, credential.Value));
                    break;
                case "query" when UpstreamCredentialNames.IsQueryName(credential.Name):
                    query.Add(new(credential.Name, credential.Value));
                    break;
                default:
                    problem = "an upstream credential has an unknown location or an invalid query name";
                    return false;
            }
        }
        if (route.SigningKeys.Count > 2 || route.SigningKeys.Any(k => k.Length == 0))
        {
            problem = "the signing keys are not one or two non-empty keys";
            return false;
        }
        if (!ApiCors.TryCreate(route.Policies?.Cors, out var cors, out problem) ||
            !ApiTransforms.TryCreate(route.Policies?.Transforms, out var transforms, out problem))
        {
            return false;
        }
        policy = new UpstreamPolicy([.. headers], [.. query], [.. route.SigningKeys.Select(k => k.ToByteArray())], cors, transforms, route);
        problem = null;
        return true;
    }
}
