using System.Diagnostics.CodeAnalysis;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Calls;

/// <summary>
/// An API's transforms as forwarding applies them (docs/transforms.md): header changes on the
/// request and the response, in order, and a path prefix. Built once per config apply by routing
/// from catalog's <c>policies.transforms</c> (values split into literal text and placeholders
/// then), never per request.
/// </summary>
internal sealed class ApiTransforms
{
    private ApiTransforms(HeaderChange[] request, HeaderChange[] response, string pathPrefix)
    {
        RequestHeaders = request;
        ResponseHeaders = response;
        PathPrefix = pathPrefix.Length > 0 ? new PathString(pathPrefix) : PathString.Empty;
    }

    /// <summary>Applied to the request before it goes upstream, in order.</summary>
    public IReadOnlyList<HeaderChange> RequestHeaders { get; }

    /// <summary>Applied to the upstream's response, in order.</summary>
    public IReadOnlyList<HeaderChange> ResponseHeaders { get; }

    /// <summary>Put before the path the upstream receives (after the slug is removed); empty for none.</summary>
    public PathString PathPrefix { get; }

    /// <summary>
    /// The transforms of <paramref name="transforms"/>, null when there are none; false with a
    /// problem when the edge cannot apply them (checked again with <see cref="HeaderTransformRules"/>).
    /// </summary>
    public static bool TryCreate(TransformPolicy? transforms, out ApiTransforms? policy, [NotNullWhen(false)] out string? problem)
    {
        policy = null;
        problem = null;
        if (transforms is null || (transforms.RequestHeaders.Count == 0 && transforms.ResponseHeaders.Count == 0 && transforms.PathPrefix.Length == 0))
        {
            return true;
        }
        if (transforms.PathPrefix.Length > 0 && HeaderTransformRules.PathPrefixProblem(transforms.PathPrefix) is not null)
        {
            problem = "the transforms' path prefix is invalid";
            return false;
        }
        if (!TryChanges(transforms.RequestHeaders, HeaderTransformRules.IsReservedRequestHeader, out var request) ||
            !TryChanges(transforms.ResponseHeaders, HeaderTransformRules.IsReservedResponseHeader, out var response))
        {
            problem = "a header transform has an unknown action, an invalid or reserved name, or an invalid value";
            return false;
        }
        policy = new ApiTransforms(request, response, transforms.PathPrefix);
        return true;
    }

    private static bool TryChanges(IReadOnlyList<HeaderTransform> transforms, Func<string, bool> isReserved, [NotNullWhen(true)] out HeaderChange[]? changes)
    {
        changes = null;
        if (transforms.Count > HeaderTransformRules.MaxHeaderTransforms)
        {
            return false;
        }
        var result = new HeaderChange[transforms.Count];
        for (var i = 0; i < transforms.Count; i++)
        {
            var transform = transforms[i];
            if (!CorsRules.IsHeaderName(transform.Name) || isReserved(transform.Name))
            {
                return false;
            }
            var action = transform.Action switch
            {
                "set" => HeaderAction.Set,
                "append" => HeaderAction.Append,
                "remove" => HeaderAction.Remove,
                _ => (HeaderAction?)null,
            };
            if (action is null)
            {
                return false;
            }
            var value = ValueTemplate.Empty;
            if (action != HeaderAction.Remove)
            {
                if (HeaderTransformRules.ValueProblem(transform.Value) is not null || HeaderTransformRules.Parse(transform.Value) is not { } parts)
                {
                    return false;
                }
                value = new ValueTemplate(parts);
            }
            result[i] = new HeaderChange(action.Value, transform.Name, value);
        }
        changes = result;
        return true;
    }
}

/// <summary>What a header change does.</summary>
internal enum HeaderAction
{
    Set,
    Append,
    Remove,
}

/// <summary>One header change: set, append or remove <see cref="Name"/>, with a value made from <see cref="Value"/>.</summary>
internal sealed record HeaderChange(HeaderAction Action, string Name, ValueTemplate Value);

/// <summary>
/// A header value with its placeholders found once: a value without any is its literal string
/// (nothing allocated per call); otherwise the parts are joined per call with the call's
/// consumer id, plan id and request id (empty when unknown).
/// </summary>
internal sealed class ValueTemplate
{
    public static readonly ValueTemplate Empty = new([]);

    private readonly string? _literal;
    private readonly (string Text, Placeholder Kind)[] _parts;

    public ValueTemplate(IReadOnlyList<HeaderTransformRules.Part> parts)
    {
        _parts = [.. parts.Select(p => (p.Text, p.IsPlaceholder ? p.Text switch
        {
            "{consumer_id}" => Placeholder.ConsumerId,
            "{plan_id}" => Placeholder.PlanId,
            "{request_id}" => Placeholder.RequestId,
            _ => throw new ArgumentException($"Unknown placeholder {p.Text}.", nameof(parts)),
        } : Placeholder.None))];
        if (_parts.All(p => p.Kind == Placeholder.None))
        {
            _literal = string.Concat(_parts.Select(p => p.Text));
        }
    }

    private enum Placeholder
    {
        None,
        ConsumerId,
        PlanId,
        RequestId,
    }

    /// <summary>The value for one call.</summary>
    public string Render(ApiCallFeature? call, string requestId)
    {
        if (_literal is not null)
        {
            return _literal;
        }
        if (_parts.Length == 1)
        {
            return Fill(_parts[0], call, requestId);
        }
        var builder = new System.Text.StringBuilder();
        foreach (var part in _parts)
        {
            builder.Append(Fill(part, call, requestId));
        }
        return builder.ToString();
    }

    private static string Fill((string Text, Placeholder Kind) part, ApiCallFeature? call, string requestId) => part.Kind switch
    {
        Placeholder.ConsumerId => call?.ConsumerId ?? "",
        Placeholder.PlanId => call?.PlanId ?? "",
        Placeholder.RequestId => requestId,
        _ => part.Text,
    };
}
