using System.Net;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Export;

/// <summary>
/// Writes an API's config history to an S3-compatible bucket in the design's layout:
/// <c>apis/&lt;id&gt;/v&lt;N&gt;/config.json</c> per version and <c>apis/&lt;id&gt;/current</c>
/// (the current version number as text). Objects whose bytes are already there (same MD5 ETag) are
/// not written again, so a repeated export writes nothing.
/// </summary>
internal sealed class HistoryExport(IOptionsMonitor<CatalogOptions> options, ILogger<HistoryExport> logger) : IDisposable
{
    private readonly Lock _gate = new();
    private (CatalogExportOptions Options, AmazonS3Client Client)? _client;

    /// <summary>One object to write.</summary>
    public sealed record ExportObject(string Key, byte[] Content, string ContentType);

    /// <summary>The bucket written to, or FailedPrecondition naming the keys to set when export is off.</summary>
    public string Bucket => Settings.Bucket;

    /// <summary>Writes the objects that differ from what the bucket holds; returns the keys written.</summary>
    public async Task<IReadOnlyList<string>> WriteAsync(string prefix, IAsyncEnumerable<ExportObject> objects, CancellationToken cancellationToken)
    {
        var settings = Settings;
        var client = Client(settings);
        var written = new List<string>();
        try
        {
            var existing = await ListETagsAsync(client, settings.Bucket, prefix, cancellationToken);
            await foreach (var item in objects.WithCancellation(cancellationToken))
            {
                if (existing.TryGetValue(item.Key, out var etag) && etag == ETagOf(item.Content))
                {
                    continue;
                }
                using var body = new MemoryStream(item.Content, writable: false);
                await client.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = settings.Bucket,
                    Key = item.Key,
                    InputStream = body,
                    ContentType = item.ContentType,
                    // Plain signed PUTs: S3-compatible servers do not all speak aws-chunked uploads.
                    UseChunkEncoding = false,
                }, cancellationToken);
                written.Add(item.Key);
            }
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            throw RpcErrors.FailedPrecondition($"The export bucket '{settings.Bucket}' does not exist (Catalog:Export:Bucket): create it first.");
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized)
        {
            CatalogLog.ExportFailed(logger, prefix, e);
            throw RpcErrors.FailedPrecondition(
                $"The export bucket '{settings.Bucket}' refused the catalog's credentials ({e.ErrorCode}): check Catalog:Export:AccessKey and SecretKey.");
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            CatalogLog.ExportFailed(logger, prefix, e);
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"The export bucket did not take the history ({written.Count} objects written before the failure); try again."));
        }
        return written;
    }

    private CatalogExportOptions Settings
    {
        get
        {
            var settings = options.CurrentValue.Export;
            return settings.Enabled ? settings : throw RpcErrors.FailedPrecondition(
                "History export is not configured: set Catalog:Export:Bucket, and Catalog:Export:ServiceUrl, Region, " +
                "AccessKey and SecretKey (or the AWS SDK's default credentials) and ForcePathStyle as the store needs.");
        }
    }

    private AmazonS3Client Client(CatalogExportOptions settings)
    {
        lock (_gate)
        {
            if (_client is { } current && ReferenceEquals(current.Options, settings))
            {
                return current.Client;
            }
            _client?.Client.Dispose();
            var config = new AmazonS3Config
            {
                ForcePathStyle = settings.ForcePathStyle,
                // Checksums only where S3 requires them: S3-compatible servers differ in the rest.
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            };
            if (settings.ServiceUrl.Length > 0)
            {
                config.ServiceURL = settings.ServiceUrl;
                config.AuthenticationRegion = settings.Region;
            }
            else
            {
                config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(settings.Region);
            }
            var client = settings.AccessKey.Length > 0
                ? new AmazonS3Client(new BasicAWSCredentials(settings.AccessKey, settings.SecretKey), config)
                : new AmazonS3Client(config);
            _client = (settings, client);
            return client;
        }
    }

    private static async Task<Dictionary<string, string>> ListETagsAsync(AmazonS3Client client, string bucket, string prefix, CancellationToken cancellationToken)
    {
        var etags = new Dictionary<string, string>(StringComparer.Ordinal);
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        while (true)
        {
            var page = await client.ListObjectsV2Async(request, cancellationToken);
            foreach (var item in page.S3Objects ?? [])
            {
                etags[item.Key] = item.ETag?.Trim('"').ToLowerInvariant() ?? "";
            }
            if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken))
            {
                return etags;
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    /// <summary>The ETag S3 gives an object uploaded in one PUT: the hex MD5 of its bytes.</summary>
#pragma warning disable CA5351 // MD5 is what S3 ETags are; it compares contents here, it protects nothing.
    private static string ETagOf(byte[] content) => Convert.ToHexStringLower(MD5.HashData(content));
#pragma warning restore CA5351

    public void Dispose() => _client?.Client.Dispose();
}

/// <summary>Stops the start when <c>Catalog:Export</c> is set but unusable, naming the key to fix.</summary>
internal sealed class ExportOptionsValidation : IValidateOptions<CatalogOptions>
{
    public ValidateOptionsResult Validate(string? name, CatalogOptions options) =>
        options.Export.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}
