using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Billing.Data;
using Veil.Billing.Invoicing;
using Veil.Billing.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace Veil.Billing.Grpc;

/// <summary>
/// Invoices, adjustments, credit holds, reconciliation and revenue over gRPC (and REST through JSON
/// transcoding). Consumers reach only their own account (another account's invoice is NotFound);
/// providers only the revenue of their own APIs; administrators and billing managers ("staff")
/// everything. Money is integer minor units end to end.
/// </summary>
public sealed class BillingGrpcService(BillingStore store, DraftSync drafts, Reconciliation reconciliation, CreditHoldPolicy holds, TimeProvider time, BillingMetrics metrics,
    IHostApplicationLifetime lifetime, ILogger<BillingGrpcService> logger) : BillingService.BillingServiceBase
{
    private const int MaxIdLength = 64;
    private const long MaxAdjustmentMinor = 1_000_000_000_000_000;
    private const int MinReasonLength = 3;
    private const int MaxReasonLength = 500;
    private const int MaxReferenceLength = 200;
    private const int MaxRequestIdLength = 100;
    private static readonly TimeSpan DefaultRevenueRange = TimeSpan.FromDays(365);
    private static readonly TimeSpan MaxRevenueRange = TimeSpan.FromDays(5 * 366);

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    public override async Task<ListInvoicesResponse> ListInvoices(ListInvoicesRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer, VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var after = KeysetToken(errors, request.PageToken, nameof(ListInvoices));
        OptionalId(errors, "account_id", request.AccountId);
        OptionalId(errors, "subscription_id", request.SubscriptionId);
        if (!Enum.IsDefined(request.Status))
        {
            errors.Add("status", "Must be INVOICE_STATUS_DRAFT, INVOICE_STATUS_FINALIZED, INVOICE_STATUS_PAID or unset.");
        }
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
        RequiredId("invoice_id", request.InvoiceId);
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
        RequiredId(errors, "invoice_id", request.InvoiceId);
        var reference = request.PaymentReference.Trim();
        if (reference.Length > MaxReferenceLength || reference.Any(char.IsControl))
        {
            errors.Add("payment_reference", $"At most {MaxReferenceLength} characters, without control characters.");
        }
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
        OptionalId(errors, "account_id", request.AccountId);
        OptionalId(errors, "invoice_id", request.InvoiceId);
        if (request.AccountId.Length == 0 && request.InvoiceId.Length == 0)
        {
            errors.Add("account_id", "Name the account, the invoice, or both.");
        }
        if (request.Kind is not (AdjustmentKind.Credit or AdjustmentKind.Debit))
        {
            errors.Add("kind", "Required: ADJUSTMENT_KIND_CREDIT or ADJUSTMENT_KIND_DEBIT.");
        }
        if (request.AmountMinor is < 1 or > MaxAdjustmentMinor)
        {
            errors.Add("amount_minor", $"Must be 1 to {MaxAdjustmentMinor.ToString(CultureInfo.InvariantCulture)} minor units (kind gives the direction).");
        }
        if (request.Currency.Length > 0 && !BillingOptions.CurrencyCode().IsMatch(request.Currency))
        {
            errors.Add("currency", "Must be an ISO 4217 code of three upper-case letters, e.g. USD.");
        }
        else if (request.Currency.Length == 0 && request.InvoiceId.Length == 0)
        {
            errors.Add("currency", "Required for an account-level adjustment.");
        }
        var reason = Reason(errors, request.Reason);
        if (request.RequestId.Length > MaxRequestIdLength || request.RequestId.Any(c => c is < '!' or > '~'))
        {
            errors.Add("request_id", $"At most {MaxRequestIdLength} printable ASCII characters without spaces.");
        }
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
        var after = SequenceToken(errors, request.PageToken, nameof(ListAdjustments));
        OptionalId(errors, "account_id", request.AccountId);
        OptionalId(errors, "invoice_id", request.InvoiceId);
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
        RequiredId("account_id", request.AccountId);
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
        RequiredId(errors, "account_id", request.AccountId);
        var reason = Reason(errors, request.Reason);
        errors.ThrowIfAny();

        var hold = await store.PlaceHoldAsync(request.AccountId, reason, caller.AccountId, Now, context.CancellationToken);
        BillingLog.HoldPlaced(logger, request.AccountId, caller.AccountId);
        return new PlaceCreditHoldResponse { Hold = ToProto(hold) };
    }

    public override async Task<LiftCreditHoldResponse> LiftCreditHold(LiftCreditHoldRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        RequiredId(errors, "account_id", request.AccountId);
        var reason = Reason(errors, request.Reason);
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
        RequiredId("account_id", request.AccountId);
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
        var after = SequenceToken(errors, request.PageToken, nameof(ListReconciliationRuns));
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
        OptionalId(errors, "account_id", request.AccountId);
        var after = SequenceToken(errors, request.PageToken, nameof(ListMoneyAudit));
        errors.ThrowIfAny();

        var entries = await store.ListAuditAsync(NullIfEmpty(request.AccountId), pageSize + 1, after, context.CancellationToken);
        var response = new ListMoneyAuditResponse();
        response.Entries.AddRange(entries.Take(pageSize).Select(e => new MoneyAuditEntry
        {
            Id = e.Id,
            Time = Ts(e.At),
            Actor = e.Actor,
            Action = e.Action,
            AccountId = e.AccountId,
            InvoiceId = e.InvoiceId ?? "",
            AdjustmentId = e.AdjustmentId ?? "",
            Currency = e.Currency ?? "",
            AmountMinor = e.AmountMinor ?? 0,
            Detail = e.Detail,
        }));
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
        OptionalId(errors, "api_id", request.ApiId);
        OptionalId(errors, "provider_id", request.ProviderId);
        var end = TimeField(errors, "end_time", request.EndTime) ?? Now;
        var start = TimeField(errors, "start_time", request.StartTime) ?? end - (long)DefaultRevenueRange.TotalMilliseconds;
        if (errors.IsEmpty && end <= start)
        {
            errors.Add("end_time", "Must be after start_time.");
        }
        else if (errors.IsEmpty && end - start > (long)MaxRevenueRange.TotalMilliseconds)
        {
            errors.Add("start_time", "The range may span at most 5 years.");
        }
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
        response.Entries.AddRange(rows.Select(r =>
        {
            var month = DateTimeOffset.ParseExact(r.Month + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            return new RevenueEntry
            {
                ApiId = r.ApiId,
                Currency = r.Currency,
                PeriodStart = Timestamp.FromDateTimeOffset(month),
                PeriodEnd = Timestamp.FromDateTimeOffset(month.AddMonths(1)),
                Final = r.Final,
                AmountMinor = r.AmountMinor,
                BillableCalls = r.BillableCalls,
                Invoices = r.Invoices,
            };
        }));
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

    private static void RequiredId(string field, string value)
    {
        var errors = new FieldViolations();
        RequiredId(errors, field, value);
        errors.ThrowIfAny();
    }

    private static void RequiredId(FieldViolations errors, string field, string value)
    {
        if (value.Length == 0)
        {
            errors.Add(field, "Required.");
        }
        else
        {
            OptionalId(errors, field, value);
        }
    }

    private static void OptionalId(FieldViolations errors, string field, string value)
    {
        if (value.Length > MaxIdLength || value.Any(c => c is < '!' or > '~'))
        {
            errors.Add(field, $"Must be an id of at most {MaxIdLength} printable ASCII characters.");
        }
    }

    private static string Reason(FieldViolations errors, string value)
    {
        var reason = value.Trim();
        if (reason.Length is < MinReasonLength or > MaxReasonLength || reason.Any(char.IsControl))
        {
            errors.Add("reason", $"Required: {MinReasonLength} to {MaxReasonLength} characters without control characters, saying why (audited).");
        }
        return reason;
    }

    private static long? TimeField(FieldViolations errors, string field, Timestamp? value)
    {
        if (value is null)
        {
            return null;
        }
        // Years 1970 to 9000: anything else is a typo, and keeps the arithmetic in range.
        if (value.Seconds is < 0 or > 221_845_392_000 || value.Nanos is < 0 or > 999_999_999)
        {
            errors.Add(field, "Must be a time between 1970 and 9000.");
            return null;
        }
        return value.ToDateTimeOffset().ToUnixTimeMilliseconds();
    }

    private static (long, string)? KeysetToken(FieldViolations errors, string token, string list)
    {
        if (PageToken.Decode(errors, token, list, 2) is not [var at, var id])
        {
            return null;
        }
        if (long.TryParse(at, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return (value, id);
        }
        errors.Add("page_token", "Not a next_page_token from this list; omit it to start from the first page.");
        return null;
    }

    private static long? SequenceToken(FieldViolations errors, string token, string list)
    {
        if (PageToken.Decode(errors, token, list, 1) is not [var value])
        {
            return null;
        }
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            return sequence;
        }
        errors.Add("page_token", "Not a next_page_token from this list; omit it to start from the first page.");
        return null;
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static Timestamp Ts(long unixMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));

    private static Invoice ToProto(InvoiceRecord invoice)
    {
        var proto = new Invoice
        {
            Id = invoice.Id,
            Number = invoice.Number ?? "",
            Status = !invoice.Finalized ? InvoiceStatus.Draft : invoice.Payment is null ? InvoiceStatus.Finalized : InvoiceStatus.Paid,
            AccountId = invoice.AccountId,
            SubscriptionId = invoice.SubscriptionId,
            ApiId = invoice.ApiId,
            ProviderId = invoice.ProviderId,
            PlanId = invoice.PlanId,
            Currency = invoice.Currency,
            PeriodStart = Ts(invoice.PeriodStart),
            PeriodEnd = Ts(invoice.PeriodEnd),
            BillableCalls = invoice.BillableCalls,
            Terms = new PlanTerms
            {
                BasePriceMinor = invoice.Terms.BasePriceMinor,
                PricePerCallMinor = invoice.Terms.PricePerCallMinor,
                OveragePricePerCallMinor = invoice.Terms.OveragePricePerCallMinor,
                MonthlyQuota = invoice.Terms.MonthlyQuota,
                OverageAllowed = invoice.Terms.OverageAllowed,
                QuotaUsedBefore = invoice.Terms.QuotaUsedBefore,
            },
            SubtotalMinor = invoice.SubtotalMinor,
            AdjustmentsMinor = invoice.AdjustmentsMinor,
            TotalMinor = invoice.TotalMinor,
            ComputeTime = Ts(invoice.ComputedAt),
            FinalizeTime = invoice.FinalizedAt is { } finalized ? Ts(finalized) : null,
            PaidTime = invoice.Payment is { } paid ? Ts(paid.PaidAt) : null,
            PaidBy = invoice.Payment?.PaidBy ?? "",
            PaymentReference = invoice.Payment?.Reference ?? "",
            CreateTime = Ts(invoice.CreatedAt),
        };
        proto.Lines.AddRange(invoice.Lines.Select(l => new InvoiceLine
        {
            Kind = (LineKind)(int)l.Kind,
            Description = l.Description,
            Quantity = l.Quantity,
            UnitPriceMinor = l.UnitPriceMinor,
            AmountMinor = l.AmountMinor,
            AdjustmentId = l.AdjustmentId ?? "",
        }));
        return proto;
    }

    private static Adjustment ToProto(AdjustmentRecord adjustment) => new()
    {
        Id = adjustment.Id,
        AccountId = adjustment.AccountId,
        Kind = adjustment.AmountMinor < 0 ? AdjustmentKind.Credit : AdjustmentKind.Debit,
        AmountMinor = Math.Abs(adjustment.AmountMinor),
        Currency = adjustment.Currency,
        Reason = adjustment.Reason,
        Source = adjustment.Source == 2 ? AdjustmentSource.Reconciliation : AdjustmentSource.Manual,
        InvoiceId = adjustment.InvoiceId ?? "",
        SubscriptionId = adjustment.SubscriptionId ?? "",
        ApiId = adjustment.ApiId ?? "",
        AppliedInvoiceId = adjustment.AppliedInvoiceId ?? "",
        CreatedBy = adjustment.CreatedBy,
        CreateTime = Ts(adjustment.CreatedAt),
        ReconciliationRunId = adjustment.ReconciliationRunId ?? "",
    };

    private static CreditHold ToProto(HoldRecord hold) => new() { Reason = hold.Reason, PlacedBy = hold.PlacedBy, PlaceTime = Ts(hold.PlacedAt) };

    private static ReconciliationRun ToProto(RunRecord run)
    {
        var proto = new ReconciliationRun
        {
            Id = run.Id,
            Trigger = run.Trigger == 2 ? ReconciliationTrigger.Manual : ReconciliationTrigger.Schedule,
            RequestedBy = run.RequestedBy,
            Status = run.Status switch { 1 => ReconciliationStatus.Running, 2 => ReconciliationStatus.Succeeded, _ => ReconciliationStatus.Failed },
            StartTime = Ts(run.StartedAt),
            FinishTime = run.FinishedAt is { } finished ? Ts(finished) : null,
            WindowStart = Ts(run.WindowStart),
            InvoicesChecked = run.InvoicesChecked,
            DifferencesFound = run.DifferencesFound,
            AdjustmentsCreated = run.AdjustmentsCreated,
            Error = run.Error,
        };
        proto.Adjusted.AddRange(run.Adjusted.Select(a => new MoneyAmount { Currency = a.Currency, AmountMinor = a.AmountMinor }));
        return proto;
    }
}
