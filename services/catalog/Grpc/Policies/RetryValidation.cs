using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>The most retries of one call an API may ask for.</summary>
    public const int MaxRetries = 2;

    /// <summary>policies.retry (docs/resilience.md): max_retries 0 to <see cref="MaxRetries"/>, budget_ratio 0 to 1.</summary>
    public static void Retry(FieldViolations errors, RetryPolicy retry, string field)
    {
        if (retry.HasMaxRetries && retry.MaxRetries is < 0 or > MaxRetries)
        {
            errors.Add(field + ".max_retries", $"Must be 0 to {MaxRetries} (unset means 1).");
        }
        // NaN fails both comparisons, so it is refused with the message.
        if (retry.HasBudgetRatio && !(retry.BudgetRatio >= 0 && retry.BudgetRatio <= 1))
        {
            errors.Add(field + ".budget_ratio", "Must be 0 to 1, e.g. 0.1 for 10% of the API's calls (unset means 0.1).");
        }
    }
}
