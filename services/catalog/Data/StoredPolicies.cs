using Google.Protobuf;
using Veil.Catalog.V1;

namespace Veil.Catalog.Data;

/// <summary>
/// How a version's <see cref="ApiPolicies"/> is stored: protobuf JSON with default values left
/// out, so equal policies are equal strings (an update that changes nothing makes no version).
/// </summary>
public static class StoredPolicies
{
    /// <summary>No policies.</summary>
    public const string None = "{}";

    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default);

    // A newer catalog may have stored parts this one does not know: read what it knows.
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>The stored form of <paramref name="policies"/>.</summary>
    public static string Write(ApiPolicies policies) =>
        policies.Equals(Empty) ? None : Formatter.Format(policies);

    private static readonly ApiPolicies Empty = new();

    /// <summary>The policies of a stored version.</summary>
    public static ApiPolicies Read(string json) =>
        json is None or "" ? new ApiPolicies() : Parser.Parse<ApiPolicies>(json);

    /// <summary>
    /// <paramref name="current"/> with each part that <paramref name="change"/> sets replaced whole
    /// (UpdateApi's rule); parts the change leaves out are kept.
    /// </summary>
    public static ApiPolicies Merge(ApiPolicies current, ApiPolicies change)
    {
        var merged = current.Clone();
        if (change.Targets is not null)
        {
            merged.Targets = change.Targets;
        }
        if (change.HealthCheck is not null)
        {
            merged.HealthCheck = change.HealthCheck;
        }
        if (change.CircuitBreaker is not null)
        {
            merged.CircuitBreaker = change.CircuitBreaker;
        }
        if (change.Retry is not null)
        {
            merged.Retry = change.Retry;
        }
        if (change.HasProtocol)
        {
            merged.Protocol = change.Protocol;
        }
        if (change.Cors is not null)
        {
            merged.Cors = change.Cors;
        }
        if (change.Transforms is not null)
        {
            merged.Transforms = change.Transforms;
        }
        return Normalize(merged);
    }

    /// <summary>
    /// Parts set to their empty value are the defaults: stored as absent, so "{}" and a missing part
    /// are one version, not two. Empty means nothing to write: an optional field set to zero
    /// (<c>enabled=false</c>, <c>max_age_seconds=0</c>) is a value, not the default.
    /// </summary>
    public static ApiPolicies Normalize(ApiPolicies policies)
    {
        if (policies.Targets is { } targets && targets.CalculateSize() == 0)
        {
            policies.Targets = null;
        }
        if (policies.HealthCheck is { } health && health.CalculateSize() == 0)
        {
            policies.HealthCheck = null;
        }
        if (policies.CircuitBreaker is { } breaker && breaker.CalculateSize() == 0)
        {
            policies.CircuitBreaker = null;
        }
        if (policies.Retry is { } retry && retry.CalculateSize() == 0)
        {
            policies.Retry = null;
        }
        if (policies.HasProtocol && policies.Protocol is "" or "http1")
        {
            policies.ClearProtocol();
        }
        if (policies.Cors is { } cors && cors.CalculateSize() == 0)
        {
            policies.Cors = null;
        }
        if (policies.Transforms is { } transforms && transforms.CalculateSize() == 0)
        {
            policies.Transforms = null;
        }
        return policies;
    }
}
