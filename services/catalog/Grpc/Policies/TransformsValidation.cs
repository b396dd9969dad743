using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>
    /// The rules of policies.transforms (docs/transforms.md, <see cref="HeaderTransformRules"/>): at
    /// most 20 header transforms per side, each a known action on an HTTP token that is not one of
    /// Veil's, a hop-by-hop or framing header (nor, for responses, one the edge or CORS states), a
    /// value of visible ASCII with known placeholders only; a path prefix of plain segments.
    /// </summary>
    public static void Transforms(FieldViolations errors, TransformPolicy transforms, string field)
    {
        HeaderTransforms(errors, transforms.RequestHeaders, field + ".request_headers", HeaderTransformRules.IsReservedRequestHeader);
        HeaderTransforms(errors, transforms.ResponseHeaders, field + ".response_headers", HeaderTransformRules.IsReservedResponseHeader);
        if (transforms.PathPrefix.Length > 0 && HeaderTransformRules.PathPrefixProblem(transforms.PathPrefix) is { } problem)
        {
            errors.Add(field + ".path_prefix", problem);
        }
    }

    private static void HeaderTransforms(FieldViolations errors, IReadOnlyList<HeaderTransform> transforms, string field, Func<string, bool> isReserved)
    {
        if (transforms.Count > HeaderTransformRules.MaxHeaderTransforms)
        {
            errors.Add(field, $"At most {HeaderTransformRules.MaxHeaderTransforms} header transforms.");
            return;
        }
        for (var i = 0; i < transforms.Count; i++)
        {
            var transform = transforms[i];
            var at = $"{field}[{i}]";
            var known = HeaderTransformRules.Actions.Contains(transform.Action, StringComparer.Ordinal);
            if (!known)
            {
                errors.Add(at + ".action", $"Must be one of {string.Join(", ", HeaderTransformRules.Actions.Select(a => '"' + a + '"'))}.");
            }
            if (!CorsRules.IsHeaderName(transform.Name))
            {
                errors.Add(at + ".name", $"'{transform.Name}' is not a header name (an HTTP token of up to 128 characters: letters, digits and !#$%&'*+-.^_`|~).");
            }
            else if (isReserved(transform.Name))
            {
                errors.Add(at + ".name", $"'{transform.Name}' is reserved: Veil's own headers, hop-by-hop, framing and Content-* headers (and, on responses, Set-Cookie, Retry-After, RateLimit*, X-Content-Type-Options and CORS headers) cannot be transformed.");
            }
            if (transform.Action == "remove")
            {
                if (transform.Value.Length > 0)
                {
                    errors.Add(at + ".value", "Must be empty for remove.");
                }
            }
            else if (known && HeaderTransformRules.ValueProblem(transform.Value) is { } problem)
            {
                errors.Add(at + ".value", problem);
            }
        }
    }
}
