using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;
using Veil.Subscriptions.Data;
using Veil.Subscriptions.Lifecycle;
using Veil.Subscriptions.V1;
using static Veil.Subscriptions.Grpc.SubscriptionsMapping;

namespace Veil.Subscriptions.Grpc;

/// <summary>
/// Plans, subscriptions and entitlements over gRPC (and REST through JSON transcoding). API
/// ownership comes from catalog when a plan is created; from then on the plan carries the API's
/// canonical id and provider, so listings and entitlement checks never call catalog.
/// </summary>
public sealed partial class SubscriptionsGrpcService : SubscriptionService.SubscriptionServiceBase
{
    private const string DefaultCurrency = "USD";

    private readonly SubscriptionsStore _store;
    private readonly CatalogApis _catalog;
    private readonly CreditHolds _creditHolds;
    private readonly SubscriptionsMetrics _metrics;
    private readonly SubscriptionsOptions _options;
    private readonly ChangeFeed<SubscriptionChange> _changes;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly PlanNotices _notices;
    private readonly ILogger<SubscriptionsGrpcService> _logger;
    private readonly ApiSunsetWorker _sunsets;
    private readonly ApiNoticeWorker _apiNotices;

    public SubscriptionsGrpcService(SubscriptionsStore store, CatalogApis catalog, CreditHolds creditHolds, SubscriptionsMetrics metrics,
        IOptions<SubscriptionsOptions> options, ChangeFeed<SubscriptionChange> changes, IHostApplicationLifetime lifetime, PlanNotices notices,
        ILogger<SubscriptionsGrpcService> logger, ApiSunsetWorker sunsets, ApiNoticeWorker apiNotices)
    {
        _sunsets = sunsets;
        _apiNotices = apiNotices;
        _notices = notices;
        _options = options.Value;
        _store = store;
        _catalog = catalog;
        _creditHolds = creditHolds;
        _metrics = metrics;
        _changes = changes;
        _lifetime = lifetime;
        _logger = logger;
    }

    public override async Task<CreatePlanResponse> CreatePlan(CreatePlanRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context)
            .RequireRole(VeilClaims.Roles.Provider)
            .RequireScope(VeilClaims.Scopes.ApiWrite);

        var errors = new FieldViolations();
        SubscriptionsValidation.Plan(errors, request);
        errors.ThrowIfAny();

        // Ownership comes from catalog; someone else's API is NotFound, exactly like a missing one.
        var api = await _catalog.GetApiAsync(request.ApiId, context);
        if (!caller.IsAdmin && api.ProviderId != caller.AccountId)
        {
            throw RpcErrors.NotFound($"API '{request.ApiId}' was not found.");
        }

        var (created, limitReached) = await _store.CreatePlanAsync(
            api.Id,
            api.ProviderId,
            request.Name,
            request.RequestsPerSecond,
            request.Burst == 0 ? request.RequestsPerSecond : request.Burst,
            request.MonthlyQuota,
            request.PricePerCallMinor,
            request.Currency.Length == 0 ? DefaultCurrency : request.Currency,
            request.OverageAllowed,
            request.BasePriceMinor,
            request.OveragePricePerCallMinor,
            _options.MaxPlansPerApi,
            caller.AccountId,
            context.CancellationToken);
        if (limitReached)
        {
            throw RpcErrors.FailedPrecondition(
                $"The API already has {_options.MaxPlansPerApi} plans, the most allowed (Subscriptions:MaxPlansPerApi).");
        }
        var plan = created ?? throw RpcErrors.AlreadyExists($"The API already has a plan named '{request.Name}'.");

        Activity.Current?.SetTag("veil.api_id", plan.ApiId).SetTag("veil.plan_id", plan.Id);
        _metrics.Changed("plan_created");
        SubscriptionsLog.PlanCreated(_logger, plan.Id, plan.Name, plan.ApiId, caller.AccountId);
        return new CreatePlanResponse { Plan = ToProto(plan) };
    }

    public override async Task<ListPlansResponse> ListPlans(ListPlansRequest request, ServerCallContext context)
    {
        SubscriptionsValidation.RequiredApi(request.ApiId);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var token = PageToken.Decode(errors, request.PageToken, nameof(ListPlans), 3);
        errors.ThrowIfAny();
        // Resolving through catalog turns a slug into the canonical id and an unknown API into NotFound.
        var api = await _catalog.GetApiAsync(request.ApiId, context);
        var after = token is null ? null : SubscriptionsValidation.Cursor(token, api.Id);

        var (plans, next) = await _store.ListPlansAsync(api.Id, request.ShowArchived, pageSize, after, context.CancellationToken);
        var response = new ListPlansResponse { NextPageToken = SubscriptionsValidation.Token(nameof(ListPlans), api.Id, next) };
        response.Plans.AddRange(plans.Select(ToProto));
        return response;
    }

    public override async Task<GetPlanResponse> GetPlan(GetPlanRequest request, ServerCallContext context)
    {
        SubscriptionsValidation.RequiredId("plan_id", request.PlanId);
        var plan = await _store.FindPlanAsync(request.PlanId, context.CancellationToken) ?? throw PlanNotFound(request.PlanId);
        return new GetPlanResponse { Plan = ToProto(plan) };
    }

    public override async Task<SubscribeResponse> Subscribe(SubscribeRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer);
        SubscriptionsValidation.RequiredId("plan_id", request.PlanId);
        var (subscription, resumed, plan) = await SubscribeAsync(caller, request.PlanId, context);
        // A cached "not entitled" on an edge is stale now.
        Publish(subscription, SubscriptionChangeKind.Created);

        Activity.Current?.SetTag("veil.api_id", plan.ApiId).SetTag("veil.plan_id", plan.Id);
        _metrics.Changed(resumed ? "resumed" : "subscribed");
        if (resumed)
        {
            SubscriptionsLog.Resumed(_logger, subscription.Id, caller.AccountId, plan.Id, plan.ApiId);
        }
        else
        {
            SubscriptionsLog.Subscribed(_logger, subscription.Id, caller.AccountId, plan.Id, plan.ApiId);
        }
        return new SubscribeResponse { Subscription = ToProto(subscription), Resumed = resumed };
    }

    public override async Task<ListSubscriptionsResponse> ListSubscriptions(ListSubscriptionsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer, VeilClaims.Roles.Provider);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var token = PageToken.Decode(errors, request.PageToken, nameof(ListSubscriptions), 3);
        errors.ThrowIfAny();
        string? apiId = null;
        if (request.ApiId.Length > 0)
        {
            // Subscriptions store canonical ids; a slug is resolved through catalog first.
            apiId = request.ApiId.StartsWith("api_", StringComparison.Ordinal)
                ? request.ApiId
                : (await _catalog.GetApiAsync(request.ApiId, context)).Id;
        }
        // The token is bound to its filter: a page of "all" does not continue a page of one API.
        var before = token is null ? null : SubscriptionsValidation.Cursor(token, apiId ?? "");
        var (subscriptions, next) = await _store.ListSubscriptionsAsync(ViewerOf(caller), apiId, pageSize, before, context.CancellationToken);
        var response = new ListSubscriptionsResponse
        {
            NextPageToken = SubscriptionsValidation.Token(nameof(ListSubscriptions), apiId ?? "", next),
        };
        response.Subscriptions.AddRange(subscriptions.Select(ToProto));
        return response;
    }

    public override async Task<GetSubscriptionResponse> GetSubscription(GetSubscriptionRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context);
        SubscriptionsValidation.RequiredId("subscription_id", request.SubscriptionId);
        var subscription = await _store.FindSubscriptionAsync(request.SubscriptionId, ViewerOf(caller), context.CancellationToken)
            ?? throw SubscriptionNotFound(request.SubscriptionId);
        return new GetSubscriptionResponse { Subscription = ToProto(subscription) };
    }

    public override async Task<CancelSubscriptionResponse> CancelSubscription(CancelSubscriptionRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context);
        SubscriptionsValidation.RequiredId("subscription_id", request.SubscriptionId);
        var result = await _store.CancelAsync(request.SubscriptionId, ViewerOf(caller), context.CancellationToken)
            ?? throw SubscriptionNotFound(request.SubscriptionId);
        var (subscription, mayCancel, changed) = result;
        if (!mayCancel)
        {
            // The API's provider can see the subscription (so NotFound would be a lie) but only the
            // consumer or an admin may end it.
            throw RpcErrors.PermissionDenied("Only the subscribing consumer or an administrator can cancel a subscription.");
        }
        if (changed)
        {
            // Committed; pushed before answering, so every edge is already dropping the entitlement when the caller hears back.
            Publish(subscription, SubscriptionChangeKind.Canceled);
            _metrics.Changed("canceled");
            SubscriptionsLog.Canceled(_logger, subscription.Id, caller.AccountId);
        }
        return new CancelSubscriptionResponse { Subscription = ToProto(subscription) };
    }

    public override async Task<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context)
    {
        // Internal (no HTTP binding): the edge asks on a key's first call and caches the answer for 1 s.
        var errors = new FieldViolations();
        SubscriptionsValidation.Entitlement(errors, request);
        errors.ThrowIfAny();

        var found = await _store.FindEntitlementAsync(request.ConsumerId, request.ApiId, context.CancellationToken);
        _metrics.EntitlementChecked(found is not null);
        if (found is not { } entitlement)
        {
            return new CheckEntitlementResponse { Entitled = false };
        }
        return new CheckEntitlementResponse
        {
            Entitled = true,
            Subscription = ToProto(entitlement.Subscription),
            Plan = ToProto(entitlement.Plan),
        };
    }

    public override async Task WatchSubscriptionChanges(WatchSubscriptionChangesRequest request,
        IServerStreamWriter<SubscriptionChanges> responseStream, ServerCallContext context)
    {
        // Internal: no google.api.http binding, so only the gRPC port serves it (mesh policy admits the edge only).
        var edgeId = string.IsNullOrWhiteSpace(request.EdgeId) ? "(unnamed)" : request.EdgeId.Length > 100 ? request.EdgeId[..100] : request.EdgeId;
        SubscriptionsLog.WatcherConnected(_logger, edgeId, _changes.Revision);
        try
        {
            await _changes.ServeAsync((batch, ct) => responseStream.WriteAsync(
                new SubscriptionChanges { Revision = batch.Revision, Resync = batch.Resync, Changes = { batch.Changes } }, ct),
                _lifetime, context.CancellationToken);
        }
        finally
        {
            SubscriptionsLog.WatcherDisconnected(_logger, edgeId);
        }
    }

    private void Publish(SubscriptionRecord subscription, SubscriptionChangeKind kind) => _changes.Publish(ToChange(subscription, kind));

    public override async Task<ListSubscriptionsForBillingResponse> ListSubscriptionsForBilling(ListSubscriptionsForBillingRequest request,
        ServerCallContext context)
    {
        // Internal (no HTTP binding): billing's job calls it on the gRPC port without a token, as the
        // edge calls CheckEntitlement; the mesh admits only billing there. A call that does carry a
        // token comes from a person, and only staff may list every consumer's subscriptions.
        RequireServiceOrStaff(context);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize, SubscriptionsValidation.DefaultBillingPageSize,
            SubscriptionsValidation.MaxBillingPageSize);
        // Ids sort after "", so the first page starts there.
        var after = PageToken.Decode(errors, request.PageToken, nameof(ListSubscriptionsForBilling), 1)?[0] ?? "";
        var canceledAfter = UnixMs.FromRequest(errors, "canceled_after", request.CanceledAfter);
        errors.ThrowIfAny();

        var rows = await _store.ListForBillingAsync(after, canceledAfter, pageSize + 1, context.CancellationToken);
        var response = new ListSubscriptionsForBillingResponse();
        response.Subscriptions.AddRange(rows.Take(pageSize).Select(ToProto));
        if (rows.Count > pageSize)
        {
            response.NextPageToken = PageToken.Encode(nameof(ListSubscriptionsForBilling), rows[pageSize - 1].Subscription.Id);
        }
        return response;
    }

    /// <summary>
    /// Lets through calls without a token (services on the gRPC port) and staff tokens; refuses other
    /// roles (PermissionDenied) and tokens that do not validate (Unauthenticated), which are not
    /// service calls either.
    /// </summary>
    private static void RequireServiceOrStaff(ServerCallContext context)
    {
        if (Caller.TryFrom(context) is { } caller)
        {
            caller.RequireRole(VeilClaims.Roles.BillingManager);
            return;
        }
        if (!string.IsNullOrEmpty(context.RequestHeaders.GetValue("authorization")))
        {
            throw RpcErrors.Unauthenticated();
        }
    }

    private static Viewer ViewerOf(Caller caller) => new(caller.AccountId, caller.IsAdmin);

    private static RpcException PlanNotFound(string planId) => RpcErrors.NotFound($"Plan '{planId}' was not found.");

    private static RpcException SubscriptionNotFound(string subscriptionId) => RpcErrors.NotFound($"Subscription '{subscriptionId}' was not found.");
}
