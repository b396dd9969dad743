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
    [Range(1, 1_000_000)]
    public int MaxApisPerProvider { get; set; } = 100;

    /// <summary>Most versions one API may have (every effective update stores one).</summary>
    [Range(1, 1_000_000)]
    public int MaxVersionsPerApi { get; set; } = 1000;
}
