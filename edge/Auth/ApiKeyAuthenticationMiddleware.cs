using Veil.Edge.Calls;
using Veil.Edge.Dependencies;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Auth;

/// <summary>
/// Authenticates API calls by key. No key: 401 asking for one. A malformed key (prefix, length,
/// alphabet, checksum) is refused before any network call; unknown and revoked keys get the very
/// same 401; an expired key gets a 401 that says so. Identity unreachable: 503, never a pass.
/// </summary>
internal sealed class ApiKeyAuthenticationMiddleware(RequestDelegate next, ApiKeyValidator validator)
{
    public Task InvokeAsync(HttpContext context)
    {
        var call = context.Features.Get<ApiCallFeature>();
        if (call is null)
        {
            return next(context);
        }

        var key = ApiKeyReader.Read(context.Request.Headers);
        if (key is null)
        {
            return RejectAsync(context, call, Outcomes.Unauthenticated, Problems.ApiKeyRequired);
        }
        // Prefix, length and alphabet here; the checksum (a hash) only for keys not already cached.
        if (!ApiKeyFormat.HasKeyShape(key))
        {
            return RejectAsync(context, call, Outcomes.Unauthenticated, Problems.ApiKeyInvalid);
        }

        var validation = validator.ValidateAsync(key, context.RequestAborted);
        return validation.IsCompletedSuccessfully
            ? ContinueAsync(context, call, validation.Result)
            : AwaitValidationAsync(context, call, validation);
    }

    private async Task AwaitValidationAsync(HttpContext context, ApiCallFeature call, ValueTask<ApiKeyCheck> validation)
    {
        ApiKeyCheck check;
        try
        {
            check = await validation;
        }
        catch (DependencyUnavailableException)
        {
            await RejectAsync(context, call, Outcomes.Unavailable, Problems.AuthUnavailable);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            call.Outcome = Outcomes.ClientAborted;
            return;
        }
        await ContinueAsync(context, call, check);
    }

    private Task ContinueAsync(HttpContext context, ApiCallFeature call, ApiKeyCheck check)
    {
        if (check.Identity is not { } identity)
        {
            return RejectAsync(context, call, Outcomes.Unauthenticated, check.IsExpired ? Problems.ApiKeyExpired : Problems.ApiKeyInvalid);
        }
        call.KeyId = identity.KeyId;
        call.KeyPrefix = identity.KeyPrefix;
        call.ConsumerId = identity.AccountId;
        call.KeyScope = identity.Scope;
        return next(context);
    }

    private static Task RejectAsync(HttpContext context, ApiCallFeature call, string outcome, Problem problem)
    {
        call.Outcome = outcome;
        return Problems.WriteAsync(context, problem);
    }
}
