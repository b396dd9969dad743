using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    public const int MaxTargets = 16;
    public const int MaxTargetWeight = 100;

    /// <summary>The load-balancing policies the edge offers (YARP's, round robin weighted by the edge).</summary>
    public static readonly string[] LoadBalancingPolicies = ["round_robin", "least_requests", "power_of_two_choices"];

    /// <summary>
    /// policies.targets: at most <see cref="MaxTargets"/> targets, each url under upstream_url's
    /// rules and listed once, a weight of 0 (1) to <see cref="MaxTargetWeight"/>, and a known
    /// load-balancing policy.
    /// </summary>
    public static void Targets(FieldViolations errors, UpstreamTargets targets, string field, bool allowPrivateUpstreams)
    {
        if (targets.Items.Count > MaxTargets)
        {
            errors.Add(field + ".items", $"At most {MaxTargets} targets.");
            return;
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < targets.Items.Count; i++)
        {
            var target = targets.Items[i];
            var at = $"{field}.items[{i}]";
            UpstreamUrl(errors, target.Url, allowPrivateUpstreams, at + ".url");
            if (!string.IsNullOrEmpty(target.Url) && !seen.Add(target.Url.TrimEnd('/')))
            {
                errors.Add(at + ".url", $"'{target.Url}' is listed twice; give it a higher weight instead.");
            }
            if (target.Weight is < 0 or > MaxTargetWeight)
            {
                errors.Add(at + ".weight", $"Must be 1 to {MaxTargetWeight} (0 means 1).");
            }
        }
        if (targets.LoadBalancing.Length > 0 && !LoadBalancingPolicies.Contains(targets.LoadBalancing, StringComparer.Ordinal))
        {
            errors.Add(field + ".load_balancing", $"Must be one of {string.Join(", ", LoadBalancingPolicies.Select(p => '"' + p + '"'))} (empty means \"round_robin\").");
        }
        if (targets.Items.Count == 0 && targets.LoadBalancing.Length > 0)
        {
            errors.Add(field + ".items", "Required with load_balancing: the targets to balance across.");
        }
    }
}
