using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;
using Veil.Subscriptions.Data;
using Veil.Subscriptions.V1;
using static Veil.Subscriptions.Grpc.SubscriptionsMapping;
using RpcStatus = Google.Rpc.Status;

namespace Veil.Subscriptions.Grpc;

/// <summary>
/// Plans that change without surprising anyone (docs/subscriptions.md, "Changing a plan"): versions
/// (UpdatePlan, ListPlanVersions), archive, delete, and the terms billing prices each cycle with
/// (GetCycleTerms). Only the API's provider and admins see a plan's versions or change it; anyone
/// else gets NotFound, as for a plan that does not exist.
/// </summary>
public sealed partial class SubscriptionsGrpcService
{
    private const int MaxCycleTermsBatch = 1000;

    public override async Task<UpdatePlanResponse> UpdatePlan(UpdatePlanRequest request, ServerCallContext context)
    {
        var caller = PlanOwnerOrAdmin(context, request.PlanId).RequireScope(VeilClaims.Scopes.ApiWrite);
        var errors = new FieldViolations();
        SubscriptionsValidation.PlanUpdate(errors, request);
        errors.ThrowIfAny();
        // The body's etag and the HTTP If-Match header (transcoding passes request headers as metadata); each given must match.
        var ifMatch = context.RequestHeaders.GetValue("if-match");
        var etags = new[] { request.Etag, ifMatch }.Where(e => !string.IsNullOrWhiteSpace(e)).Select(e => e!).ToList();

        var result = await _store.UpdatePlanAsync(request.PlanId, ViewerOf(caller), etags, plan => Apply(plan, request), context.CancellationToken);
        var plan = Outcome(result, request.PlanId, etags, request.Name);
        if (result.Outcome == PlanChangeOutcome.Changed)
        {
            Activity.Current?.SetTag("veil.api_id", plan.ApiId).SetTag("veil.plan_id", plan.Id);
            _metrics.Changed("plan_updated");
            SubscriptionsLog.PlanUpdated(_logger, plan.Id, plan.Version, caller.AccountId, result.Notices);
            _notices.Wake();
        }
        return new UpdatePlanResponse { Plan = ToProto(plan) };
    }

    public override async Task<ListPlanVersionsResponse> ListPlanVersions(ListPlanVersionsRequest request, ServerCallContext context)
    {
        var caller = PlanOwnerOrAdmin(context, request.PlanId);
        var errors = new FieldViolations();
        if (string.IsNullOrWhiteSpace(request.PlanId))
        {
            errors.Add("plan_id", "Required.");
        }
        var pageSize = Paging.PageSize(errors, request.PageSize);
        long? before = null;
        if (PageToken.Decode(errors, request.PageToken, nameof(ListPlanVersions), 2) is [var tokenPlan, var version])
        {
            if (tokenPlan == request.PlanId && long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0)
            {
                before = v;
            }
            else
            {
                errors.Add("page_token", "Not a next_page_token from this plan's versions; omit it to start from the first page.");
            }
        }
        errors.ThrowIfAny();

        var (_, versions, more) = await _store.ListPlanVersionsAsync(request.PlanId, ViewerOf(caller), pageSize, before, context.CancellationToken)
            ?? throw PlanNotFound(request.PlanId);
        var response = new ListPlanVersionsResponse
        {
            NextPageToken = more
                ? PageToken.Encode(nameof(ListPlanVersions), request.PlanId, versions[^1].Version.ToString(CultureInfo.InvariantCulture))
                : "",
        };
        response.Versions.AddRange(versions.Select(ToProto));
        return response;
    }

    public override async Task<ArchivePlanResponse> ArchivePlan(ArchivePlanRequest request, ServerCallContext context)
    {
        var caller = PlanOwnerOrAdmin(context, request.PlanId).RequireScope(VeilClaims.Scopes.ApiWrite);
        SubscriptionsValidation.RequiredId("plan_id", request.PlanId);
        var result = await _store.ArchivePlanAsync(request.PlanId, ViewerOf(caller), context.CancellationToken);
        var plan = Outcome(result, request.PlanId, [], "");
        if (result.Outcome == PlanChangeOutcome.Changed)
        {
            _metrics.Changed("plan_archived");
            SubscriptionsLog.PlanArchived(_logger, plan.Id, caller.AccountId);
        }
        return new ArchivePlanResponse { Plan = ToProto(plan) };
    }

    public override async Task<DeletePlanResponse> DeletePlan(DeletePlanRequest request, ServerCallContext context)
    {
        var caller = PlanOwnerOrAdmin(context, request.PlanId).RequireScope(VeilClaims.Scopes.ApiWrite);
        SubscriptionsValidation.RequiredId("plan_id", request.PlanId);
        var result = await _store.DeletePlanAsync(request.PlanId, ViewerOf(caller), context.CancellationToken);
        if (result.Outcome == PlanChangeOutcome.InUse)
        {
            throw RpcErrors.Conflict(string.Create(CultureInfo.InvariantCulture,
                $"Plan '{request.PlanId}' is used by {result.InUse} active subscription{(result.InUse == 1 ? "" : "s")}; archive it so it takes no new ones, and delete it once they are cancelled."));
        }
        Outcome(result, request.PlanId, [], "");
        if (result.Outcome == PlanChangeOutcome.Changed)
        {
            _metrics.Changed("plan_deleted");
            SubscriptionsLog.PlanDeleted(_logger, request.PlanId, caller.AccountId);
        }
        return new DeletePlanResponse();
    }

    public override async Task<GetCycleTermsResponse> GetCycleTerms(GetCycleTermsRequest request, ServerCallContext context)
    {
        // Internal (no HTTP binding): billing, on the gRPC port, like ListSubscriptionsForBilling.
        RequireServiceOrStaff(context);
        var errors = new FieldViolations();
        if (request.Cycles.Count is 0 or > MaxCycleTermsBatch)
        {
            errors.Add("cycles", $"Must hold 1 to {MaxCycleTermsBatch} cycles.");
        }
        var cycles = new List<(string, long)>(request.Cycles.Count);
        foreach (var cycle in request.Cycles)
        {
            if (string.IsNullOrEmpty(cycle.SubscriptionId))
            {
                errors.Add("cycles.subscription_id", "Required.");
            }
            if (UnixMs.FromRequest(errors, "cycles.cycle_start", cycle.CycleStart) is { } start)
            {
                cycles.Add((cycle.SubscriptionId, start));
            }
            else if (cycle.CycleStart is null)
            {
                errors.Add("cycles.cycle_start", "Required.");
            }
        }
        errors.ThrowIfAny();

        var response = new GetCycleTermsResponse();
        foreach (var (subscriptionId, cycleStart, plan) in await _store.CycleTermsAsync(cycles, context.CancellationToken))
        {
            response.Cycles.Add(new CycleTerms { SubscriptionId = subscriptionId, CycleStart = UnixMs.ToTimestamp(cycleStart), Plan = ToProto(plan) });
        }
        return response;
    }

    /// <summary>
    /// Subscribes the caller to the plan as it is when the subscription is stored: a paid plan's
    /// credit-hold check runs against the terms subscribed to, read again if the plan changed meanwhile.
    /// </summary>
    private async Task<(SubscriptionRecord Subscription, bool Resumed, PlanRecord Plan)> SubscribeAsync(Caller caller, string planId, ServerCallContext context)
    {
        for (var attempt = 1; ; attempt++)
        {
            var plan = await _store.FindPlanAsync(planId, context.CancellationToken) ?? throw PlanNotFound(planId);
            // A suspended or deleted API takes no new subscriptions (docs/subscriptions.md).
            await EnsureApiTakesSubscriptionsAsync(plan, context.CancellationToken);
            if (plan.IsPaid)
            {
                // Free plans never ask billing, so they keep working whatever billing's state.
                await _creditHolds.EnsureNotOnHoldAsync(caller.AccountId, context);
            }
            var result = await _store.SubscribeAsync(caller.AccountId, plan, context.CancellationToken);
            switch (result.Refusal)
            {
                case SubscribeRefusal.None:
                    return (result.Subscription!, result.Resumed, plan);
                case SubscribeRefusal.AlreadySubscribed:
                    throw RpcErrors.AlreadyExists("There is already an active subscription to this API; cancel it before subscribing to another plan.");
                case SubscribeRefusal.Archived:
                    throw RpcErrors.Conflict($"Plan '{planId}' is archived and takes no new subscriptions; choose another plan of the API (ListPlans).");
                case SubscribeRefusal.Deleted:
                    throw RpcErrors.Conflict($"Plan '{planId}' was deleted and takes no new subscriptions; choose another plan of the API (ListPlans).");
                case SubscribeRefusal.PlanChanged when attempt < 3:
                    continue;
                default:
                    throw RpcErrors.Conflict($"Plan '{planId}' changed while subscribing; try again.");
            }
        }
    }

    /// <summary>The plan after a change, or the error its outcome means.</summary>
    private static PlanRecord Outcome(PlanChange result, string planId, IReadOnlyList<string> etags, string newName) => result.Outcome switch
    {
        PlanChangeOutcome.NotFound => throw PlanNotFound(planId),
        PlanChangeOutcome.Deleted => throw RpcErrors.Conflict($"Plan '{planId}' was deleted; it cannot change any more."),
        PlanChangeOutcome.EtagMismatch => throw RpcErrors.Conflict(
            $"The plan changed since you read it (etag {string.Join(", ", etags.Select(e => $"'{e}'"))}, now '{result.Plan!.Etag}'); read it again (GetPlan) and apply your change to what it is now."),
        PlanChangeOutcome.NameTaken => throw RpcErrors.AlreadyExists($"The API already has a plan named '{newName}'; choose another name."),
        _ => result.Plan!,
    };

    /// <summary>The plan with the request's set fields applied; burst 0 means the (new) requests_per_second.</summary>
    private static PlanRecord Apply(PlanRecord plan, UpdatePlanRequest request)
    {
        var rate = request.HasRequestsPerSecond ? request.RequestsPerSecond : plan.RequestsPerSecond;
        return plan with
        {
            Name = request.HasName ? request.Name : plan.Name,
            RequestsPerSecond = rate,
            Burst = request.HasBurst ? (request.Burst == 0 ? rate : request.Burst) : plan.Burst,
            MonthlyQuota = request.HasMonthlyQuota ? request.MonthlyQuota : plan.MonthlyQuota,
            PricePerCallMinor = request.HasPricePerCallMinor ? request.PricePerCallMinor : plan.PricePerCallMinor,
            Currency = request.HasCurrency ? request.Currency : plan.Currency,
            OverageAllowed = request.HasOverageAllowed ? request.OverageAllowed : plan.OverageAllowed,
            BasePriceMinor = request.HasBasePriceMinor ? request.BasePriceMinor : plan.BasePriceMinor,
            OveragePricePerCallMinor = request.HasOveragePricePerCallMinor ? request.OveragePricePerCallMinor : plan.OveragePricePerCallMinor,
        };
    }

    /// <summary>
    /// Providers and admins; anyone else (consumers, billing managers) gets NotFound, as for a plan
    /// they cannot see. Whether a provider owns the plan is part of the store's query.
    /// </summary>
    private static Caller PlanOwnerOrAdmin(ServerCallContext context, string planId)
    {
        var caller = Caller.From(context);
        return caller.IsAdmin || caller.Role == VeilClaims.Roles.Provider ? caller : throw PlanNotFound(planId);
    }
}
