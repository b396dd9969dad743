using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

/// <summary>Field rules for the upstream policies (docs/policies.md).</summary>
internal static partial class ApiValidation
{
    public const int MaxCredentials = 10;
    public const int MaxCredentialValueLength = 4096;
    public const int MaxCredentialNameLength = 256;

    /// <summary>
    /// The credentials' rules: at most <see cref="MaxCredentials"/>; location "header" (or empty)
    /// or "query"; a header name that is an HTTP token and none of Veil's or the hop-by-hop ones;
    /// a query name of URL-safe characters; a value of 1 to <see cref="MaxCredentialValueLength"/>
    /// characters, visible ASCII and spaces for a header, no control characters (CR, LF, …) for
    /// either; no name twice per location. <paramref name="field"/> prefixes the field names.
    /// </summary>
    public static void UpstreamCredentials(FieldViolations errors, IReadOnlyList<UpstreamCredential> credentials, string field)
    {
        if (credentials.Count > MaxCredentials)
        {
            errors.Add(field, $"At most {MaxCredentials} credentials.");
            return;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < credentials.Count; i++)
        {
            var credential = credentials[i];
            var at = $"{field}[{i}]";
            var location = credential.Location.Length == 0 ? "header" : credential.Location;
            var isHeader = location == "header";
            if (!isHeader && location != "query")
            {
                errors.Add(at + ".location", "Must be \"header\" (the default) or \"query\".");
                continue;
            }
            var name = credential.Name;
            if (string.IsNullOrEmpty(name))
            {
                errors.Add(at + ".name", "Required: the header or query parameter name.");
            }
            else if (name.Length > MaxCredentialNameLength)
            {
                errors.Add(at + ".name", $"Must be at most {MaxCredentialNameLength} characters.");
            }
            else if (isHeader && !UpstreamCredentialNames.IsHeaderToken(name))
            {
                errors.Add(at + ".name", "Not a valid header name: use letters, digits and !#$%&'*+-.^_`|~ (no spaces, colons or line breaks).");
            }
            else if (isHeader && UpstreamCredentialNames.IsReservedHeader(name))
            {
                errors.Add(at + ".name", $"'{name}' is reserved: hop-by-hop, message framing and Veil's own headers (X-Veil-*, X-Api-Key, X-Request-Id, X-Forwarded-*, Host, Content-*, …) cannot carry a credential.");
            }
            else if (!isHeader && !UpstreamCredentialNames.IsQueryName(name))
            {
                errors.Add(at + ".name", "Not a valid query parameter name: use letters, digits and - _ . ~ only.");
            }
            else if (!seen.Add(location + ":" + (isHeader ? name.ToLowerInvariant() : name)))
            {
                errors.Add(at + ".name", $"'{name}' appears twice; each {location} name may be set once.");
            }

            var value = credential.Value;
            if (string.IsNullOrEmpty(value))
            {
                errors.Add(at + ".value", "Required: the secret value (write-only; to keep the current credentials, leave upstream_credentials out of the update).");
            }
            else if (value.Length > MaxCredentialValueLength)
            {
                errors.Add(at + ".value", $"Must be at most {MaxCredentialValueLength} characters.");
            }
            else if (value.Any(char.IsControl))
            {
                errors.Add(at + ".value", "Must not contain control characters (CR, LF, NUL, …).");
            }
            else if (isHeader && (value.Any(c => c > '~') || value != value.Trim()))
            {
                errors.Add(at + ".value", "A header value must be visible ASCII and spaces, without leading or trailing spaces.");
            }
            if (credential.ValueHint.Length > 0)
            {
                errors.Add(at + ".value_hint", "Output only: leave it out.");
            }
        }
    }
}
