using Veil.Edge.Calls;

namespace Veil.Edge.Auth;

/// <summary>
/// Holds a narrowed key to its scope, after the key check and before the subscription check: a key
/// limited to some APIs gets 403 on any other, a read-only key gets 403 on any method but GET,
/// HEAD and OPTIONS. Keys that are not narrowed cost one null check. The scope's API set was built
/// once when identity's answer was cached.
/// </summary>
internal sealed class ApiKeyScopeMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<ApiCallFeature>() is not { KeyScope: { } scope } call)
        {
            return next(context);
        }
        if (scope.ApiIds is { } apiIds && !apiIds.Contains(call.ApiId))
        {
            return RejectAsync(context, call, Problems.KeyNotScopedToApi);
        }
        if (scope.ReadOnly && !IsReadMethod(context.Request.Method))
        {
            return RejectAsync(context, call, Problems.KeyReadOnly);
        }
        return next(context);
    }

    // HttpMethods.Is* compare ignoring case, so a method spelled "get" is still a read.
    private static bool IsReadMethod(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method);

    private static Task RejectAsync(HttpContext context, ApiCallFeature call, Problem problem)
    {
        call.Outcome = Outcomes.Forbidden;
        return Problems.WriteAsync(context, problem);
    }
}
