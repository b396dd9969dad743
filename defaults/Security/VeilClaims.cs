namespace Veil.ServiceDefaults.Security;

/// <summary>Claim names and values in Veil's JWT access tokens.</summary>
public static class VeilClaims
{
    /// <summary>The account id.</summary>
    public const string Subject = "sub";

    /// <summary>One of <see cref="Roles"/>.</summary>
    public const string Role = "role";

    /// <summary>Space-separated scopes.</summary>
    public const string Scope = "scope";

    /// <summary>The account's email.</summary>
    public const string Email = "email";

    /// <summary>Default issuer and audience.</summary>
    public const string DefaultIssuer = "veil-identity";

    /// <summary>The JWT header <c>typ</c> of access tokens (RFC 9068); validators accept no other.</summary>
    public const string AccessTokenType = "at+jwt";

    /// <summary>Audience of management-API tokens.</summary>
    public const string DefaultAudience = "veil-api";

    /// <summary>Role claim values.</summary>
    public static class Roles
    {
        public const string Consumer = "consumer";
        public const string Provider = "provider";
        public const string Admin = "admin";
        public const string BillingManager = "billing_manager";
    }

    /// <summary>Scope values.</summary>
    public static class Scopes
    {
        public const string ApiRead = "api:read";
        public const string ApiWrite = "api:write";
        public const string KeysManage = "keys:manage";
        public const string UsageRead = "usage:read";
    }
}
