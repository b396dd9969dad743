using System.Globalization;
using Veil.Billing.Data;
using Veil.Billing.V1;
using Veil.ServiceDefaults.Grpc;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace Veil.Billing.Grpc;

/// <summary>
/// Store records to proto messages. Money stays integer minor units; times become
/// <see cref="Timestamp"/>s from Unix ms; an unset optional value is the proto default ("" or 0).
/// </summary>
internal static class BillingMapping
{

    public static Invoice ToProto(InvoiceRecord invoice)
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
            PeriodStart = UnixMs.ToTimestamp(invoice.PeriodStart),
            PeriodEnd = UnixMs.ToTimestamp(invoice.PeriodEnd),
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
            ComputeTime = UnixMs.ToTimestamp(invoice.ComputedAt),
            FinalizeTime = invoice.FinalizedAt is { } finalized ? UnixMs.ToTimestamp(finalized) : null,
            PaidTime = invoice.Payment is { } paid ? UnixMs.ToTimestamp(paid.PaidAt) : null,
            PaidBy = invoice.Payment?.PaidBy ?? "",
            PaymentReference = invoice.Payment?.Reference ?? "",
            CreateTime = UnixMs.ToTimestamp(invoice.CreatedAt),
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

    public static Adjustment ToProto(AdjustmentRecord adjustment) => new()
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
        CreateTime = UnixMs.ToTimestamp(adjustment.CreatedAt),
        ReconciliationRunId = adjustment.ReconciliationRunId ?? "",
    };

    public static CreditHold ToProto(HoldRecord hold) => new() { Reason = hold.Reason, PlacedBy = hold.PlacedBy, PlaceTime = UnixMs.ToTimestamp(hold.PlacedAt) };

    public static ReconciliationRun ToProto(RunRecord run)
    {
        var proto = new ReconciliationRun
        {
            Id = run.Id,
            Trigger = run.Trigger == 2 ? ReconciliationTrigger.Manual : ReconciliationTrigger.Schedule,
            RequestedBy = run.RequestedBy,
            Status = run.Status switch { 1 => ReconciliationStatus.Running, 2 => ReconciliationStatus.Succeeded, _ => ReconciliationStatus.Failed },
            StartTime = UnixMs.ToTimestamp(run.StartedAt),
            FinishTime = run.FinishedAt is { } finished ? UnixMs.ToTimestamp(finished) : null,
            WindowStart = UnixMs.ToTimestamp(run.WindowStart),
            InvoicesChecked = run.InvoicesChecked,
            DifferencesFound = run.DifferencesFound,
            AdjustmentsCreated = run.AdjustmentsCreated,
            Error = run.Error,
        };
        proto.Adjusted.AddRange(run.Adjusted.Select(a => new MoneyAmount { Currency = a.Currency, AmountMinor = a.AmountMinor }));
        return proto;
    }

    public static MoneyAuditEntry ToProto(AuditRecord e) => new()
    {
        Id = e.Id,
        Time = UnixMs.ToTimestamp(e.At),
        Actor = e.Actor,
        Action = e.Action,
        AccountId = e.AccountId,
        InvoiceId = e.InvoiceId ?? "",
        AdjustmentId = e.AdjustmentId ?? "",
        Currency = e.Currency ?? "",
        AmountMinor = e.AmountMinor ?? 0,
        Detail = e.Detail,
    };

    /// <summary>A revenue row; its month (UTC) becomes the entry's [period_start, period_end).</summary>
    public static RevenueEntry ToProto(RevenueRecord r)
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
    }
}
