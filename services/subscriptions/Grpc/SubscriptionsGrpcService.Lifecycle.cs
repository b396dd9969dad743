using Grpc.Core;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.Data;
using Veil.Subscriptions.Lifecycle;
using Veil.Subscriptions.V1;

namespace Veil.Subscriptions.Grpc;

/// <summary>
/// API lifecycles pushed by catalog (SetApiLifecycle) and what they change here: Subscribe refuses
/// a suspended or deleted API's plans (<see cref="EnsureApiTakesSubscriptionsAsync"/>), and
/// <see cref="ApiSunsetWorker"/> cancels a deleted API's subscriptions at its sunset.
/// </summary>
public sealed partial class SubscriptionsGrpcService
{
    public override async Task<SetApiLifecycleResponse> SetApiLifecycle(SetApiLifecycleRequest request, ServerCallContext context)
    {
        // Internal (no HTTP binding): catalog calls it on the gRPC port without a token.
        RequireServiceOrStaff(context);
        var errors = new FieldViolations();
        SubscriptionsValidation.RequiredId("api_id", request.ApiId);
        if (request.State is < ApiLifecycleRecord.Active or > ApiLifecycleRecord.Retired)
        {
            errors.Add("state", "Must be an ApiState value from 1 (active) to 5 (retired).");
        }
        if (request.Revision < 1)
        {
            errors.Add("revision", "Must be catalog's gateway revision of the change, 1 or more.");
        }
        if (request.State is ApiLifecycleRecord.Retiring or ApiLifecycleRecord.Retired && request.SunsetTime is null)
        {
            errors.Add("sunset_time", "Required for a deleted API: its subscriptions end then.");
        }
        errors.ThrowIfAny();

        var lifecycle = new ApiLifecycleRecord(request.ApiId, request.State == ApiLifecycleRecord.Retired ? ApiLifecycleRecord.Retiring : request.State,
            request.DeprecateTime?.ToUnixMs() ?? 0, request.SunsetTime?.ToUnixMs() ?? 0, request.DeprecationLink, request.Revision);
        var applied = await _store.SetApiLifecycleAsync(lifecycle, context.CancellationToken);
        if (applied)
        {
            SubscriptionsLog.ApiLifecycleStored(_logger, lifecycle.ApiId, lifecycle.State, lifecycle.Revision);
            _sunsets.Wake();
            _apiNotices.Wake();
        }
        return new SetApiLifecycleResponse { Applied = applied };
    }

    /// <summary>409 when the plan's API is suspended or deleted (as catalog last pushed it).</summary>
    private async Task EnsureApiTakesSubscriptionsAsync(PlanRecord plan, CancellationToken cancellationToken)
    {
        if (await _store.FindApiLifecycleAsync(plan.ApiId, cancellationToken) is not { RefusesSubscriptions: true } lifecycle)
        {
            return;
        }
        SubscriptionsLog.RefusedApiLifecycle(_logger, plan.ApiId, lifecycle.State);
        throw RpcErrors.Conflict(lifecycle.State == ApiLifecycleRecord.Suspended
            ? $"API '{plan.ApiId}' is suspended by its provider: it takes no new subscriptions until the provider resumes it."
            : $"API '{plan.ApiId}' has been deleted by its provider (its calls stop at {DateTimeOffset.FromUnixTimeMilliseconds(lifecycle.SunsetTime):yyyy-MM-dd'T'HH:mm:ss'Z'}): it takes no new subscriptions.");
    }
}
