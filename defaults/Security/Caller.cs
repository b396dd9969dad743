using System.Security.Claims;
using Grpc.Core;
using Veil.ServiceDefaults.Grpc;

namespace Veil.ServiceDefaults.Security;

/// <summary>The authenticated account behind a gRPC or REST call, read from its JWT.</summary>
public sealed record Caller(string AccountId, string Role, IReadOnlySet<string> Scopes)
{
    /// <summary>True for administrators, who may see and change everything.</summary>
    public bool IsAdmin => Role == VeilClaims.Roles.Admin;

    /// <summary>The caller, or <c>Unauthenticated</c> when the call carries no valid token.</summary>
    public static Caller From(ServerCallContext context) => TryFrom(context) ?? throw RpcErrors.Unauthenticated();

    /// <summary>The caller, or null for anonymous calls (public RPCs).</summary>
    public static Caller? TryFrom(ServerCallContext context) => TryFrom(context.GetHttpContext().User);

    /// <summary>The caller described by <paramref name="user"/>, or null when it is not authenticated.</summary>
    public static Caller? TryFrom(ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true)
        {
            return null;
        }
        var id = user.FindFirstValue(VeilClaims.Subject);
        var role = user.FindFirstValue(VeilClaims.Role);
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(role))
        {
            return null;
        }
        var scopes = (user.FindFirstValue(VeilClaims.Scope) ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        return new Caller(id, role, scopes);
    }

    /// <summary>Throws <c>PermissionDenied</c> unless the caller has one of <paramref name="roles"/> (admins always pass).</summary>
    public Caller RequireRole(params string[] roles)
    {
        if (!IsAdmin && !roles.Contains(Role, StringComparer.Ordinal))
        {
            throw RpcErrors.PermissionDenied($"This operation needs the role {string.Join(" or ", roles)}; the caller is {Role}.");
        }
        return this;
    }

    /// <summary>Throws <c>PermissionDenied</c> unless the token carries <paramref name="scope"/>.</summary>
    public Caller RequireScope(string scope)
    {
        if (!Scopes.Contains(scope))
        {
            throw RpcErrors.PermissionDenied($"The access token lacks the scope '{scope}'.");
        }
        return this;
    }
}
