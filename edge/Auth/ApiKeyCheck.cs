namespace Veil.Edge.Auth;

/// <summary>Identity's answer about a key: its owner when valid; otherwise whether it merely expired.</summary>
internal sealed class ApiKeyCheck
{
    public static readonly ApiKeyCheck Invalid = new(null, expired: false);
    public static readonly ApiKeyCheck Expired = new(null, expired: true);

    public ApiKeyCheck(ApiKeyIdentity? identity, bool expired = false)
    {
        Identity = identity;
        IsExpired = expired;
    }

    /// <summary>Set when the key is valid.</summary>
    public ApiKeyIdentity? Identity { get; }

    /// <summary>True when the key exists, is not revoked, and its expiry has passed.</summary>
    public bool IsExpired { get; }
}
