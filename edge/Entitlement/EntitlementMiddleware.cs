using Veil.Edge.Calls;
using Veil.Edge.Dependencies;

namespace Veil.Edge.Entitlement;

/// <summary>
/// Lets an authenticated consumer through only with an active subscription to the API (403
/// otherwise), and records the subscription and plan for the transforms and later steps.
/// Subscriptions unreachable: 503.
/// </summary>
internal sealed class EntitlementMiddleware(RequestDelegate next, EntitlementChecker checker)
{
    public Task InvokeAsync(HttpContext context)
    {
        var call = context.Features.Get<ApiCallFeature>();
        if (call is null)
        {
            return next(context);
        }
        if (call.ConsumerId is null)
        {
            // Only reachable if the pipeline were misordered: fail closed.
            call.Outcome = Outcomes.Unauthenticated;
            return Problems.WriteAsync(context, Problems.ApiKeyRequired);
        }

        var check = checker.CheckAsync(call.ConsumerId, call.ApiId, context.RequestAborted);
        return check.IsCompletedSuccessfully
            ? ContinueAsync(context, call, check.Result)
            : AwaitCheckAsync(context, call, check);
    }

    private async Task AwaitCheckAsync(HttpContext context, ApiCallFeature call, ValueTask<Entitlement?> check)
    {
        Entitlement? entitlement;
        try
        {
            entitlement = await check;
        }
        catch (DependencyUnavailableException)
        {
            call.Outcome = Outcomes.Unavailable;
            await Problems.WriteAsync(context, Problems.AuthUnavailable);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            call.Outcome = Outcomes.ClientAborted;
            return;
        }
        await ContinueAsync(context, call, entitlement);
    }

    private Task ContinueAsync(HttpContext context, ApiCallFeature call, Entitlement? entitlement)
    {
        if (entitlement is null)
        {
            call.Outcome = Outcomes.Forbidden;
            return Problems.WriteAsync(context, Problems.NotEntitled);
        }
        call.SubscriptionId = entitlement.SubscriptionId;
        call.PlanId = entitlement.PlanId;
        call.Plan = entitlement.Plan;
        call.SubscriptionStart = entitlement.SubscriptionStart;
        return next(context);
    }
}
