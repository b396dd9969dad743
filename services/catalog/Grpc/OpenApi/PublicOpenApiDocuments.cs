using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Veil.Catalog.Data;

namespace Veil.Catalog.Grpc.OpenApi;

/// <summary>
/// The public form of each API's OpenAPI document (servers → the edge, upstream addresses gone),
/// made once per config version and format: versions never change, and reading a 1 MiB document
/// on every anonymous request would be an easy way to keep the catalog busy.
/// </summary>
internal sealed class PublicOpenApiDocuments(IOptionsMonitor<CatalogOptions> options) : IDisposable
{
    /// <summary>Characters kept in the cache, about 64 MiB of text.</summary>
    private const long CacheChars = 32 * 1024 * 1024;

    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = CacheChars });

    /// <summary>The public document in <paramref name="format"/> ("json" or "yaml"), or null when the stored one is not OpenAPI 3.0/3.1.</summary>
    public string? Get(ApiRecord api, string format)
    {
        var publicUrl = options.CurrentValue.PublicBaseUrl.TrimEnd('/') + "/" + api.Slug;
        var key = (api.Id, api.CurrentVersion, format, publicUrl);
        if (_cache.TryGetValue(key, out string? cached))
        {
            return cached!.Length == 0 ? null : cached;
        }
        var text = OpenApiReaderContext.Publish(api.Config.OpenApiDocument, publicUrl, HiddenUrls(api.Config), format);
        // A document that does not read is remembered too (as ""), so it is not re-read each time.
        _cache.Set(key, text ?? "", new MemoryCacheEntryOptions { Size = Math.Max(1, text?.Length ?? 0) });
        return text;
    }

    /// <summary>The upstream addresses of the version: upstream_url and every target's url.</summary>
    private static List<string> HiddenUrls(ApiConfig config)
    {
        var urls = new List<string> { config.UpstreamUrl };
        urls.AddRange(StoredPolicies.Read(config.Policies).Targets?.Items.Select(t => t.Url) ?? []);
        return urls;
    }

    public void Dispose() => _cache.Dispose();
}
