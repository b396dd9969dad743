using Microsoft.Extensions.Primitives;
using Veil.Edge.Calls;

namespace Veil.Edge.Auth;

/// <summary>
/// Reads the API key a call presents, in <c>X-Api-Key</c> or <c>Authorization: Bearer veil_…</c>
/// (<see cref="VeilCredentials"/>: where Veil's credentials travel). A bearer token that is not a
/// key, such as a JWT, is not read as one.
/// </summary>
internal static class ApiKeyReader
{
    /// <summary>
    /// The presented key, or null when there is none. More than one key (the header twice, or
    /// <c>X-Api-Key</c> and a different bearer key) comes back joined, so it fails the format check
    /// (401) rather than the edge picking one of them. The same key sent both ways is one key.
    /// </summary>
    public static string? Read(IHeaderDictionary headers)
    {
        var authorization = headers.Authorization;
        string? bearer = null;
        if (authorization.Count == 1)
        {
            bearer = TryGetBearerKey(authorization[0], out var key) ? key : null;
        }
        else if (authorization.Count > 1 && HasBearerKey(authorization))
        {
            bearer = authorization.ToString();
        }

        var apiKey = headers[VeilCredentials.HeaderName];
        if (apiKey.Count > 0)
        {
            var value = apiKey.ToString();
            if (value.Length > 0)
            {
                return bearer is null || string.Equals(bearer, value, StringComparison.Ordinal) ? value : value + "," + bearer;
            }
        }
        return bearer;
    }

    private static bool HasBearerKey(StringValues authorization)
    {
        foreach (var value in authorization)
        {
            if (TryGetBearerKey(value, out _))
            {
                return true;
            }
        }
        return false;
    }

    private static bool TryGetBearerKey(string? value, out string key)
    {
        key = "";
        if (value is null || !value.StartsWith(VeilCredentials.BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var token = value.AsSpan(VeilCredentials.BearerPrefix.Length).Trim();
        if (!token.StartsWith(VeilCredentials.KeyPrefix, StringComparison.Ordinal))
        {
            return false;
        }
        key = token.Length == value.Length - VeilCredentials.BearerPrefix.Length ? value[VeilCredentials.BearerPrefix.Length..] : token.ToString();
        return true;
    }
}
