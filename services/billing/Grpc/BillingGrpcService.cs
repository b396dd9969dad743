using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Veil.Billing.Data;
using Veil.Billing.Invoicing;
using Veil.Billing.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;
using static Veil.Billing.Grpc.BillingMapping;

namespace Veil.Billing.Grpc;

/// <summary>
/// Invoices, adjustments, credit holds, reconciliation and revenue over gRPC (and REST through JSON
/// transcoding). Consumers reach only their own account (another account's invoice is NotFound);
/// providers only the revenue of their own APIs; administrators and billing managers ("staff")
/// everything. Money is integer minor units end to end.
/// </summary>
public sealed partial class BillingGrpcService(BillingStore store, DraftSync drafts, Reconciliation reconciliation, CreditHoldPolicy holds, TimeProvider time,
    BillingMetrics metrics, IHostApplicationLifetime lifetime, ILogger<BillingGrpcService> logger) : BillingService.BillingServiceBase
{
    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    public override async Task<ListInvoicesResponse> ListInvoices(ListInvoicesRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer, VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var after = PageToken.DecodeNumberAndId(errors, request.PageToken, nameof(ListInvoices));
        BillingValidation.OptionalId(errors, "account_id", request.AccountId);
        BillingValidation.OptionalId(errors, "subscription_id", request.SubscriptionId);
        BillingValidation.Status(errors, request.Status);
        errors.ThrowIfAny();
        var account = AccountScope(caller, request.AccountId);

        var invoices = await store.ListInvoicesAsync(account, NullIfEmpty(request.SubscriptionId), (int)request.Status, pageSize + 1, after,
            context.CancellationToken);
        var response = new ListInvoicesResponse();
        response.Invoices.AddRange(invoices.Take(pageSize).Select(ToProto));
        if (invoices.Count > pageSize)
        {
            var last = invoices[pageSize - 1];
            response.NextPageToken = PageToken.Encode(nameof(ListInvoices), last.PeriodStart.ToString(CultureInfo.InvariantCulture), last.Id);
        }
        return response;
    }

    public override async Task<GetInvoiceResponse> GetInvoice(GetInvoiceRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer, VeilClaims.Roles.BillingManager);
        BillingValidation.RequiredId("invoice_id", request.InvoiceId);
        var invoice = await store.FindInvoiceAsync(request.InvoiceId, IsStaff(caller) ? null : caller.AccountId, context.CancellationToken)
            ?? throw InvoiceNotFound(request.InvoiceId);
        Activity.Current?.SetTag("veil.invoice_id", invoice.Id);
        invoice = await drafts.RefreshDraftAsync(invoice, context.CancellationToken);
        return new GetInvoiceResponse { Invoice = ToProto(invoice) };
    }

    public override async Task<MarkInvoicePaidResponse> MarkInvoicePaid(MarkInvoicePaidRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        BillingValidation.RequiredId(errors, "invoice_id", request.InvoiceId);
        var reference = BillingValidation.PaymentReference(errors, request.PaymentReference);
        errors.ThrowIfAny();

        var (invoice, refusal, changed) = await store.MarkPaidAsync(request.InvoiceId, reference, caller.AccountId, Now, context.CancellationToken);
        switch (refusal)
        {
            case PaymentRefusal.NotFound:
                throw InvoiceNotFound(request.InvoiceId);
            case PaymentRefusal.NotFinalized:
                throw RpcErrors.FailedPrecondition($"Invoice '{request.InvoiceId}' is still a draft; only finalised invoices can be paid.");
        }
        if (changed)
        {
            BillingLog.InvoicePaid(logger, invoice!.Id, caller.AccountId);
        }
        return new MarkInvoicePaidResponse { Invoice = ToProto(invoice!) };
    }

    public override async Task<CreateAdjustmentResponse> CreateAdjustment(CreateAdjustmentRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        var reason = BillingValidation.Adjustment(errors, request);
        errors.ThrowIfAny();

        var signed = request.Kind == AdjustmentKind.Credit ? -request.AmountMinor : request.AmountMinor;
        var (adjustment, refusal, replayed) = await store.CreateAdjustmentAsync(NullIfEmpty(request.AccountId), NullIfEmpty(request.InvoiceId), signed,
            NullIfEmpty(request.Currency), reason, NullIfEmpty(request.RequestId), caller.AccountId, Now, context.CancellationToken);
        switch (refusal)
        {
            case AdjustmentRefusal.InvoiceNotFound:
                throw InvoiceNotFound(request.InvoiceId);
            case AdjustmentRefusal.AccountMismatch:
                throw RpcErrors.InvalidArgument("account_id", "Does not match the invoice's account.");
            case AdjustmentRefusal.CurrencyMismatch:
                throw RpcErrors.InvalidArgument("currency", "Does not match the invoice's currency; an invoice has one currency.");
            case AdjustmentRefusal.RequestIdReused:
                throw RpcErrors.AlreadyExists($"request_id '{request.RequestId}' was already used for a different adjustment.");
        }
        if (!replayed)
        {
            metrics.AdjustmentWritten("manual");
            BillingLog.AdjustmentCreated(logger, adjustment!.Id, adjustment.AmountMinor, adjustment.Currency, adjustment.AccountId, caller.AccountId);
        }
        return new CreateAdjustmentResponse { Adjustment = ToProto(adjustment!) };
    }

    public override async Task<ListAdjustmentsResponse> ListAdjustments(ListAdjustmentsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer, VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var after = PageToken.DecodeNumber(errors, request.PageToken, nameof(ListAdjustments));
        BillingValidation.OptionalId(errors, "account_id", request.AccountId);
        BillingValidation.OptionalId(errors, "invoice_id", request.InvoiceId);
        errors.ThrowIfAny();
        var account = AccountScope(caller, request.AccountId);

        var adjustments = await store.ListAdjustmentsAsync(account, NullIfEmpty(request.InvoiceId), pageSize + 1, after, context.CancellationToken);
        var response = new ListAdjustmentsResponse();
        response.Adjustments.AddRange(adjustments.Take(pageSize).Select(ToProto));
        if (adjustments.Count > pageSize)
        {
            response.NextPageToken = PageToken.Encode(nameof(ListAdjustments), adjustments[pageSize - 1].Seq.ToString(CultureInfo.InvariantCulture));
        }
        return response;
    }

    public override async Task<GetAccountStatusResponse> GetAccountStatus(GetAccountStatusRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer, VeilClaims.Roles.BillingManager);
        BillingValidation.RequiredId("account_id", request.AccountId);
        var account = AccountScope(caller, request.AccountId)!;

        var (hold, balances) = await store.GetStandingAsync(account, unpaidOnly: false, context.CancellationToken);
        var response = new GetAccountStatusResponse
        {
            AccountId = account,
            ManualHold = hold is null ? null : ToProto(hold),
        };
        foreach (var balance in balances)
        {
            var entry = new CurrencyBalance
            {
                Currency = balance.Currency,
                UnpaidMinor = balance.UnpaidMinor,
                UnpaidInvoices = balance.UnpaidInvoices,
                PendingAdjustmentsMinor = balance.PendingAdjustmentsMinor,
                OverThreshold = holds.IsOver(balance),
            };
            if (holds.ThresholdFor(balance.Currency) is { } threshold)
            {
                entry.ThresholdMinor = threshold;
            }
            response.Balances.Add(entry);
        }
        response.OnHold = hold is not null || response.Balances.Any(b => b.OverThreshold);
        return response;
    }

    public override async Task<PlaceCreditHoldResponse> PlaceCreditHold(PlaceCreditHoldRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        BillingValidation.RequiredId(errors, "account_id", request.AccountId);
        var reason = BillingValidation.Reason(errors, request.Reason);
        errors.ThrowIfAny();

        var hold = await store.PlaceHoldAsync(request.AccountId, reason, caller.AccountId, Now, context.CancellationToken);
        BillingLog.HoldPlaced(logger, request.AccountId, caller.AccountId);
        return new PlaceCreditHoldResponse { Hold = ToProto(hold) };
    }

    public override async Task<LiftCreditHoldResponse> LiftCreditHold(LiftCreditHoldRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        BillingValidation.RequiredId(errors, "account_id", request.AccountId);
        var reason = BillingValidation.Reason(errors, request.Reason);
        errors.ThrowIfAny();

        var lifted = await store.LiftHoldAsync(request.AccountId, reason, caller.AccountId, Now, context.CancellationToken);
        if (lifted)
        {
            BillingLog.HoldLifted(logger, request.AccountId, caller.AccountId);
        }
        var (stillOnHold, _) = await holds.CheckAsync(request.AccountId, context.CancellationToken);
        return new LiftCreditHoldResponse { Lifted = lifted, StillOnHold = stillOnHold };
    }

    public override async Task<CheckCreditHoldResponse> CheckCreditHold(CheckCreditHoldRequest request, ServerCallContext context)
    {
        // Internal (no HTTP binding): subscriptions asks before a paid subscription starts.
        BillingValidation.RequiredId("account_id", request.AccountId);
        var (onHold, reason) = await holds.CheckAsync(request.AccountId, context.CancellationToken);
        metrics.CreditHoldChecked(onHold);
        return new CheckCreditHoldResponse { OnHold = onHold, Reason = reason };
    }

    public override async Task<RunReconciliationResponse> RunReconciliation(RunReconciliationRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        // The run belongs to the process, not to the request: a caller that gives up does not leave
        // a half-checked window behind. The caller stops waiting at its own deadline.
        var run = reconciliation.RunAsync(manual: true, caller.AccountId, lifetime.ApplicationStopping);
        var record = await run.WaitAsync(context.CancellationToken);
        return new RunReconciliationResponse { Run = ToProto(record) };
    }

    public override async Task<ListReconciliationRunsResponse> ListReconciliationRuns(ListReconciliationRunsRequest request, ServerCallContext context)
    {
        Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var after = PageToken.DecodeNumber(errors, request.PageToken, nameof(ListReconciliationRuns));
        errors.ThrowIfAny();

        var runs = await store.ListRunsAsync(null, pageSize + 1, after, context.CancellationToken);
        var response = new ListReconciliationRunsResponse();
        response.Runs.AddRange(runs.Take(pageSize).Select(ToProto));
        if (runs.Count > pageSize)
        {
            response.NextPageToken = PageToken.Encode(nameof(ListReconciliationRuns), runs[pageSize - 1].Seq.ToString(CultureInfo.InvariantCulture));
        }
        return response;
    }

    public override async Task<ListMoneyAuditResponse> ListMoneyAudit(ListMoneyAuditRequest request, ServerCallContext context)
    {
        Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        BillingValidation.OptionalId(errors, "account_id", request.AccountId);
        var after = PageToken.DecodeNumber(errors, request.PageToken, nameof(ListMoneyAudit));
        errors.ThrowIfAny();

        var entries = await store.ListAuditAsync(NullIfEmpty(request.AccountId), pageSize + 1, after, context.CancellationToken);
        var response = new ListMoneyAuditResponse();
        response.Entries.AddRange(entries.Take(pageSize).Select(ToProto));
        if (entries.Count > pageSize)
        {
            response.NextPageToken = PageToken.Encode(nameof(ListMoneyAudit), entries[pageSize - 1].Id.ToString(CultureInfo.InvariantCulture));
        }
        return response;
    }

    public override async Task<GetRevenueResponse> GetRevenue(GetRevenueRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Provider, VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        BillingValidation.OptionalId(errors, "api_id", request.ApiId);
        BillingValidation.OptionalId(errors, "provider_id", request.ProviderId);
        var (start, end) = BillingValidation.RevenueRange(errors, request, Now);
        errors.ThrowIfAny();

        string? provider;
        if (IsStaff(caller))
        {
            provider = NullIfEmpty(request.ProviderId);
        }
        else if (request.ProviderId.Length == 0 || request.ProviderId == caller.AccountId)
        {
            // Providers see the revenue of their own APIs only: the filter is part of the query.
            provider = caller.AccountId;
        }
        else
        {
            throw RpcErrors.NotFound($"Provider '{request.ProviderId}' was not found.");
        }

        var rows = await store.RevenueAsync(provider, NullIfEmpty(request.ApiId), start, end, context.CancellationToken);
        var response = new GetRevenueResponse();
        response.Entries.AddRange(rows.Select(ToProto));
        return response;
    }

    private static bool IsStaff(Caller caller) => caller.IsAdmin || caller.Role == VeilClaims.Roles.BillingManager;

    /// <summary>
    /// The account filter a caller may use: staff any (or none), a consumer only itself. Naming
    /// another account is NotFound, as if it did not exist.
    /// </summary>
    private static string? AccountScope(Caller caller, string requested)
    {
        if (IsStaff(caller))
        {
            return NullIfEmpty(requested);
        }
        if (requested.Length == 0 || requested == caller.AccountId)
        {
            return caller.AccountId;
        }
        throw RpcErrors.NotFound($"Account '{requested}' was not found.");
    }

    private static RpcException InvoiceNotFound(string invoiceId) => RpcErrors.NotFound($"Invoice '{invoiceId}' was not found.");

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
