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
    /// Releases one API may have, v1 (the API's own configuration) included (docs/catalog.md,
    /// "Releases"). Adding one more is FailedPrecondition.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 64)]
    public int MaxReleasesPerApi { get; set; } = 16;

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
    /// drops out of <c>GetApiResponse.deployment</c> after this; a closed stream drops it at once. Default 30 s.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan EdgeReportTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The public address of the edge, where consumers call APIs: the public OpenAPI document of
    /// an API names <c>{PublicBaseUrl}/{slug}</c> as its only server. An absolute http(s) URL
    /// without query or fragment; default <c>http://localhost:8080</c> (the edge of a local run).
    /// </summary>
    [Required]
    public string PublicBaseUrl { get; set; } = "http://localhost:8080";

    /// <summary>The history export to an S3-compatible bucket (<c>Catalog:Export</c>); off while its Bucket is empty.</summary>
    public CatalogExportOptions Export { get; set; } = new();
}

/// <summary>
/// Where <c>ExportApiHistory</c> writes (<c>Catalog:Export</c>). Export is configured when
/// <see cref="Bucket"/> is set; the other keys are then checked at start.
/// </summary>
public sealed class CatalogExportOptions
{
    /// <summary>The bucket (it must exist). Empty: export is off and the RPC answers FailedPrecondition.</summary>
    public string Bucket { get; set; } = "";

    /// <summary>An S3-compatible endpoint (MinIO, Ceph, …), absolute http(s). Empty: AWS S3 in <see cref="Region"/>.</summary>
    public string ServiceUrl { get; set; } = "";

    /// <summary>The region requests are signed for; required without a ServiceUrl. Default us-east-1.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Access key id; with <see cref="SecretKey"/>, or both empty for the AWS SDK's default credential chain.</summary>
    public string AccessKey { get; set; } = "";

    /// <summary>Secret access key; with <see cref="AccessKey"/>.</summary>
    public string SecretKey { get; set; } = "";

    /// <summary>Path-style addressing (<c>{ServiceUrl}/{bucket}/{key}</c>), which most S3-compatible servers need.</summary>
    public bool ForcePathStyle { get; set; }

    /// <summary>
    /// Also export by itself: every new version of every API, at start and after each change
    /// (<c>HistoryExportWorker</c>). Default false: only <c>ExportApiHistory</c> exports.
    /// </summary>
    public bool Automatic { get; set; }

    public bool Enabled => Bucket.Length > 0;

    /// <summary>What is wrong with a configured export, or null.</summary>
    public string? Problem()
    {
        if (!Enabled)
        {
            return null;
        }
        if (ServiceUrl.Length > 0 && !(Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
        {
            return "Catalog:Export:ServiceUrl must be an absolute http(s) URL (or empty for AWS S3).";
        }
        if (ServiceUrl.Length == 0 && string.IsNullOrWhiteSpace(Region))
        {
            return "Catalog:Export:Region is required when Catalog:Export:ServiceUrl is empty.";
        }
        if ((AccessKey.Length == 0) != (SecretKey.Length == 0))
        {
            return "Catalog:Export:AccessKey and Catalog:Export:SecretKey go together: set both, or neither for the AWS SDK's default credentials.";
        }
        return null;
    }
}
