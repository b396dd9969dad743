using System.ComponentModel.DataAnnotations;

namespace Veil.Edge;

/// <summary>Settings of the edge, bound from the <c>Edge</c> section and validated at start.</summary>
public sealed class EdgeOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Edge";

    /// <summary>This instance's name in catalog's logs; defaults to the machine name and process id.</summary>
    public string? EdgeId { get; set; }

    /// <summary>How long identity's and subscriptions' answers are reused (revocation takes effect within this).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan AuthCacheTtl { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most keys (and, separately, entitlements) held in the local caches.</summary>
    [Range(100, 10_000_000)]
    public int AuthCacheMaxEntries { get; set; } = 100_000;

    /// <summary>Deadline of one ValidateApiKey or CheckEntitlement call, retries included.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:00:30")]
    public TimeSpan AuthCallTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long connecting to an upstream may take (a refused connection fails at once with 502; this bounds a silent one, then 504).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan UpstreamConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Lets API upstreams resolve to (or be) loopback, private, link-local and other non-global
    /// addresses. Off by default: the edge resolves each upstream name itself and connects only to
    /// global unicast addresses (SSRF guard, <c>GuardedConnect</c>), answering 502 "upstream
    /// address not allowed" otherwise. The local fleet and the tests turn it on because their
    /// sample upstreams listen on loopback. Management routes to the fleet's own services are never guarded.
    /// </summary>
    public bool AllowPrivateUpstreams { get; set; }

    /// <summary>Upstream timeout for routes that do not set one.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan DefaultUpstreamTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest request body accepted, in bytes (413 above); wins over Kestrel:Limits:MaxRequestBodySize.</summary>
    [Range(0, long.MaxValue)]
    public long MaxRequestBodySize { get; set; } = 10 * 1024 * 1024;

    /// <summary>
    /// Whether an API upstream's <c>Set-Cookie</c> is dropped. On by default: every API is served
    /// from the edge's one domain, so a provider's cookie would be sent along with every other
    /// provider's API calls from a browser. Turn off only for an edge whose APIs need cookies.
    /// </summary>
    public bool DropUpstreamSetCookie { get; set; } = true;

    /// <summary>First wait before reconnecting the catalog watch; doubles up to <see cref="WatchBackoffMax"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan WatchBackoffInitial { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between catalog watch reconnects.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan WatchBackoffMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest time between two reports on the catalog config stream (what this edge serves; a
    /// change is reported at once). Catalog drops an edge that stays silent for
    /// <c>Catalog:EdgeReportTimeout</c> (30 s), so keep this well below it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ConfigReportInterval { get; set; } = TimeSpan.FromSeconds(10);
}
