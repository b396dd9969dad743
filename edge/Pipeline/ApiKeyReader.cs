using Microsoft.Extensions.Primitives;

namespace Veil.Edge.Pipeline;

/// <summary>Where a consumer's Veil API key travels: <c>X-Api-Key</c>, or <c>Authorization: Bearer veil_…</c>.</summary>
internal static class ApiKeyReader
{
    public const string HeaderName = "X-Api-Key";
    private const string BearerPrefix = "Bearer ";
    private const string KeyPrefix = "veil_";

    /// <summary>
    /// The presented key, or null when there is none. Several values come back joined (and so
    /// fail the format check) rather than picking one of them.
    /// </summary>
    public static string? Read(IHeaderDictionary headers)
    {
        var apiKey = headers[HeaderName];
        if (apiKey.Count > 0)
        {
            var value = apiKey.ToString();
            if (value.Length > 0)
            {
                return value;
            }
        }

        var authorization = headers.Authorization;
        if (authorization.Count == 1)
        {
            return TryGetBearerKey(authorization[0], out var key) ? key : null;
        }
        return IsVeilCredential(authorization) ? authorization.ToString() : null;
    }

    /// <summary>True when any of <paramref name="authorization"/>'s values carries a Veil key (and so must not travel upstream).</summary>
    public static bool IsVeilCredential(StringValues authorization)
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
        if (value is null || !value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var token = value.AsSpan(BearerPrefix.Length).Trim();
        if (!token.StartsWith(KeyPrefix, StringComparison.Ordinal))
        {
            return false;
        }
        key = token.Length == value.Length - BearerPrefix.Length ? value[BearerPrefix.Length..] : token.ToString();
        return true;
    }
}
