using System.Collections.Frozen;
using Veil.Identity.V1;

namespace Veil.Edge.Calls;

/// <summary>
/// A key's narrowing, built once when identity's answer is cached: the APIs it may call (null: all
/// of the account's subscriptions) and whether only GET, HEAD and OPTIONS are allowed. The key step
/// puts it on <see cref="ApiCallFeature.KeyScope"/>, where the scope step reads it.
/// </summary>
internal sealed class ApiKeyScope(FrozenSet<string>? apiIds, bool readOnly)
{
    public FrozenSet<string>? ApiIds { get; } = apiIds;

    public bool ReadOnly { get; } = readOnly;

    /// <summary>The scope of identity's answer; null when the key is not narrowed at all.</summary>
    public static ApiKeyScope? From(ValidateApiKeyResponse response) =>
        response.ApiIds.Count == 0 && !response.ReadOnly
            ? null
            : new ApiKeyScope(response.ApiIds.Count == 0 ? null : response.ApiIds.ToFrozenSet(StringComparer.Ordinal), response.ReadOnly);
}
