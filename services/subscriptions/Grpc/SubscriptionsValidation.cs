using System.Globalization;
using System.Text.RegularExpressions;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.Data;
using Veil.Subscriptions.V1;

namespace Veil.Subscriptions.Grpc;

/// <summary>
/// Field rules for subscriptions' requests, page tokens included. Methods taking a
/// <see cref="FieldViolations"/> record every bad field so a request learns about all of them at
/// once; the one-field checks throw InvalidArgument at once. Field names are the proto field names.
/// </summary>
internal static partial class SubscriptionsValidation
{
    public const int MaxPlanNameLength = 60;
    public const int MaxRate = 100_000;
    public const int DefaultBillingPageSize = 500;
    public const int MaxBillingPageSize = 1000;

    /// <summary>Every field of a new plan.</summary>
    public static void Plan(FieldViolations errors, CreatePlanRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.ApiId))
        {
            errors.Add("api_id", "Required: an API id (api_…) or slug.");
        }
        Name(errors, request.Name);
        Rate(errors, request.RequestsPerSecond);
        Burst(errors, request.Burst);
        Terms(errors, request.MonthlyQuota, request.PricePerCallMinor, request.BasePriceMinor, request.OveragePricePerCallMinor);
        if (request.Currency.Length > 0)
        {
            Currency(errors, request.Currency, "; empty means USD");
        }
    }

    /// <summary>Every field an UpdatePlan sets, with CreatePlan's rules; a currency, when set, must be a code.</summary>
    public static void PlanUpdate(FieldViolations errors, UpdatePlanRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.PlanId))
        {
            errors.Add("plan_id", "Required.");
        }
        if (request.HasName)
        {
            Name(errors, request.Name);
        }
        if (request.HasRequestsPerSecond)
        {
            Rate(errors, request.RequestsPerSecond);
        }
        if (request.HasBurst)
        {
            Burst(errors, request.Burst);
        }
        Terms(errors, request.HasMonthlyQuota ? request.MonthlyQuota : 0, request.HasPricePerCallMinor ? request.PricePerCallMinor : 0,
            request.HasBasePriceMinor ? request.BasePriceMinor : 0, request.HasOveragePricePerCallMinor ? request.OveragePricePerCallMinor : 0);
        if (request.HasCurrency)
        {
            Currency(errors, request.Currency, "");
        }
        if (request.Etag.Length > MaxEtagLength)
        {
            errors.Add("etag", $"Must be at most {MaxEtagLength} characters: the plan's etag as last read.");
        }
    }

    private const int MaxEtagLength = 200;

    private static void Name(FieldViolations errors, string name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            errors.Add("name", "Required.");
        }
        else if (name.Length > MaxPlanNameLength)
        {
            errors.Add("name", $"Must be at most {MaxPlanNameLength} characters.");
        }
    }

    private static void Rate(FieldViolations errors, int requestsPerSecond)
    {
        if (requestsPerSecond is < 1 or > MaxRate)
        {
            errors.Add("requests_per_second", $"Must be 1 to {MaxRate}.");
        }
    }

    private static void Burst(FieldViolations errors, int burst)
    {
        if (burst != 0 && burst is < 1 or > MaxRate)
        {
            errors.Add("burst", $"Must be 0 (same as requests_per_second) or 1 to {MaxRate}.");
        }
    }

    private static void Terms(FieldViolations errors, long monthlyQuota, long pricePerCallMinor, long basePriceMinor, long overagePricePerCallMinor)
    {
        if (monthlyQuota < 0)
        {
            errors.Add("monthly_quota", "Must be 0 (unlimited) or more.");
        }
        if (pricePerCallMinor < 0)
        {
            errors.Add("price_per_call_minor", "Must be 0 (free) or more, in minor units of the currency.");
        }
        if (basePriceMinor < 0)
        {
            errors.Add("base_price_minor", "Must be 0 (no fee) or more, in minor units of the currency per billing cycle.");
        }
        if (overagePricePerCallMinor < 0)
        {
            errors.Add("overage_price_per_call_minor", "Must be 0 (same as price_per_call_minor) or more, in minor units of the currency.");
        }
    }

    private static void Currency(FieldViolations errors, string currency, string whenEmpty)
    {
        if (!CurrencyCode().IsMatch(currency))
        {
            errors.Add("currency", $"Must be an ISO 4217 code of three upper-case letters, e.g. USD{whenEmpty}.");
        }
    }

    /// <summary>An API named by id or slug as the request's key field: InvalidArgument at once when blank.</summary>
    public static void RequiredApi(string apiId)
    {
        if (string.IsNullOrWhiteSpace(apiId))
        {
            throw RpcErrors.InvalidArgument("api_id", "Required: an API id (api_…) or slug.");
        }
    }

    /// <summary>A required id as the request's key field: InvalidArgument at once when blank.</summary>
    public static void RequiredId(string field, string value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw RpcErrors.InvalidArgument(field, "Required.");
        }
    }

    /// <summary>The edge's entitlement question: both ids, the API's canonical.</summary>
    public static void Entitlement(FieldViolations errors, CheckEntitlementRequest request)
    {
        if (request.ConsumerId.Length == 0)
        {
            errors.Add("consumer_id", "Required.");
        }
        if (request.ApiId.Length == 0)
        {
            errors.Add("api_id", "Required: the API's canonical id.");
        }
    }

    /// <summary>A list's next page token: the list's scope (API id, or "" for all) and its cursor; "" on the last page.</summary>
    public static string Token(string list, string scope, ListCursor? next) => next is null
        ? ""
        : PageToken.Encode(list, scope, next.CreatedAt.ToString(CultureInfo.InvariantCulture), next.RowId.ToString(CultureInfo.InvariantCulture));

    /// <summary>The cursor of a decoded token, which must belong to the same scope; else InvalidArgument on page_token.</summary>
    public static ListCursor Cursor(string[] token, string scope) =>
        token[0] == scope &&
        long.TryParse(token[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var createdAt) &&
        long.TryParse(token[2], NumberStyles.None, CultureInfo.InvariantCulture, out var rowId)
            ? new ListCursor(createdAt, rowId)
            : throw RpcErrors.InvalidArgument("page_token", "Not a next_page_token from this list (with the same api_id); omit it to start from the first page.");

    [GeneratedRegex("^[A-Z]{3}$", RegexOptions.CultureInvariant)]
    private static partial Regex CurrencyCode();
}
