using System.ComponentModel.DataAnnotations;

namespace Veil.Catalog;

/// <summary>Catalog settings, bound from the <c>Catalog</c> section.</summary>
public sealed class CatalogOptions
{
    public const string SectionName = "Catalog";

    /// <summary>
    /// Allows upstream URLs that name loopback, private, link-local or unspecified addresses and
    /// <c>localhost</c>. Off by default (SSRF guard); the local fleet and the tests turn it on
    /// because their sample upstreams listen on loopback.
    /// </summary>
    public bool AllowPrivateUpstreams { get; set; }

    /// <summary>Most APIs one provider may own.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000)]
    public int MaxApisPerProvider { get; set; } = 100;

    /// <summary>
    /// Config versions one API may have (each up to a 1 MiB OpenAPI document). An update that would
    /// create one more is FailedPrecondition; versions are history and are never pruned.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000)]
    public int MaxVersionsPerApi { get; set; } = 1000;

    /// <summary>
    /// How long a signing secret replaced by <c>RotateApiSigningSecret</c> is still sent (the edge
    /// signs each call with both meanwhile), so the provider can switch its verifier without
    /// refusing calls. Default 24 hours; 0 drops the previous secret at once.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan SigningSecretOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How long an edge stays live without a report on its config stream (edges report after each
    /// applied snapshot and at least every <c>Edge:ConfigReportInterval</c>, 10 s). A silent edge
    /// drops out of <c>Api.deployment</c> after this; a closed stream drops it at once. Default 30 s.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan EdgeReportTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
