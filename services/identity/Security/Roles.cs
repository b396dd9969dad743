using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Security;

/// <summary>Roles as the contract (enum) and the tokens (claim strings) spell them, and each role's scopes.</summary>
internal static class Roles
{
    private static readonly string[] ConsumerScopes =
        [VeilClaims.Scopes.ApiRead, VeilClaims.Scopes.KeysManage, VeilClaims.Scopes.UsageRead];
    private static readonly string[] ProviderScopes =
        [VeilClaims.Scopes.ApiRead, VeilClaims.Scopes.ApiWrite, VeilClaims.Scopes.KeysManage, VeilClaims.Scopes.UsageRead];
    private static readonly string[] AdminScopes = ProviderScopes;
    private static readonly string[] BillingManagerScopes = [VeilClaims.Scopes.ApiRead, VeilClaims.Scopes.UsageRead];

    /// <summary>The scopes every token and key of an account with <paramref name="role"/> carries.</summary>
    public static IReadOnlyList<string> ScopesOf(string role) => role switch
    {
        VeilClaims.Roles.Consumer => ConsumerScopes,
        VeilClaims.Roles.Provider => ProviderScopes,
        VeilClaims.Roles.Admin => AdminScopes,
        VeilClaims.Roles.BillingManager => BillingManagerScopes,
        _ => [],
    };

    public static string ToClaim(Role role) => role switch
    {
        Role.Consumer => VeilClaims.Roles.Consumer,
        Role.Provider => VeilClaims.Roles.Provider,
        Role.Admin => VeilClaims.Roles.Admin,
        Role.BillingManager => VeilClaims.Roles.BillingManager,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Not a role."),
    };

    public static Role FromClaim(string role) => role switch
    {
        VeilClaims.Roles.Consumer => Role.Consumer,
        VeilClaims.Roles.Provider => Role.Provider,
        VeilClaims.Roles.Admin => Role.Admin,
        VeilClaims.Roles.BillingManager => Role.BillingManager,
        _ => Role.Unspecified,
    };
}
