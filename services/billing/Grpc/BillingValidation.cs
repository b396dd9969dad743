using System.Globalization;
using Veil.Billing.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Billing.Grpc;

/// <summary>
/// Field rules for billing's requests, page tokens included. Each method records its violations in
/// a shared <see cref="FieldViolations"/> so a request learns about every bad field at once (the
/// one-field <see cref="RequiredId(string, string)"/> throws at once). Field names are the proto
/// field names.
/// </summary>
internal static class BillingValidation
{
    public const int MaxIdLength = 64;
    public const long MaxAdjustmentMinor = 1_000_000_000_000_000;
    public const int MinReasonLength = 3;
    public const int MaxReasonLength = 500;
    public const int MaxReferenceLength = 200;
    public const int MaxRequestIdLength = 100;
    public static readonly TimeSpan DefaultRevenueRange = TimeSpan.FromDays(365);
    public static readonly TimeSpan MaxRevenueRange = TimeSpan.FromDays(5 * 366);

    /// <summary>A required id as the only field of a request: InvalidArgument at once when it is bad.</summary>
    public static void RequiredId(string field, string value)
    {
        var errors = new FieldViolations();
        RequiredId(errors, field, value);
        errors.ThrowIfAny();
    }

    public static void RequiredId(FieldViolations errors, string field, string value)
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

    public static void OptionalId(FieldViolations errors, string field, string value)
    {
        if (value.Length > MaxIdLength || value.Any(c => c is < '!' or > '~'))
        {
            errors.Add(field, $"Must be an id of at most {MaxIdLength} printable ASCII characters.");
        }
    }

    public static void Status(FieldViolations errors, InvoiceStatus status)
    {
        if (!Enum.IsDefined(status))
        {
            errors.Add("status", "Must be INVOICE_STATUS_DRAFT, INVOICE_STATUS_FINALIZED, INVOICE_STATUS_PAID or unset.");
        }
    }

    /// <summary>The trimmed payment reference (empty is fine).</summary>
    public static string PaymentReference(FieldViolations errors, string value)
    {
        var reference = value.Trim();
        if (reference.Length > MaxReferenceLength || reference.Any(char.IsControl))
        {
            errors.Add("payment_reference", $"At most {MaxReferenceLength} characters, without control characters.");
        }
        return reference;
    }

    /// <summary>Every field of a manual adjustment; returns the trimmed reason.</summary>
    public static string Adjustment(FieldViolations errors, CreateAdjustmentRequest request)
    {
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
        return reason;
    }

    /// <summary>The trimmed reason, which is audited.</summary>
    public static string Reason(FieldViolations errors, string value)
    {
        var reason = value.Trim();
        if (reason.Length is < MinReasonLength or > MaxReasonLength || reason.Any(char.IsControl))
        {
            errors.Add("reason", $"Required: {MinReasonLength} to {MaxReasonLength} characters without control characters, saying why (audited).");
        }
        return reason;
    }

    /// <summary>
    /// A revenue request's range in Unix ms: end defaults to <paramref name="nowMs"/>, start to
    /// <see cref="DefaultRevenueRange"/> before end; end after start, at most <see cref="MaxRevenueRange"/>.
    /// </summary>
    public static (long Start, long End) RevenueRange(FieldViolations errors, GetRevenueRequest request, long nowMs)
    {
        var end = UnixMs.FromRequest(errors, "end_time", request.EndTime) ?? nowMs;
        var start = UnixMs.FromRequest(errors, "start_time", request.StartTime) ?? end - (long)DefaultRevenueRange.TotalMilliseconds;
        if (errors.IsEmpty && end <= start)
        {
            errors.Add("end_time", "Must be after start_time.");
        }
        else if (errors.IsEmpty && end - start > (long)MaxRevenueRange.TotalMilliseconds)
        {
            errors.Add("start_time", "The range may span at most 5 years.");
        }
        return (start, end);
    }
}
