using System.Text.Json;
using System.Text.Json.Nodes;
using Veil.Edge.Routing;

namespace Veil.Edge;

/// <summary>
/// The one OpenAPI document of the management API (<c>GET /openapi/veil.json</c>): the paths,
/// schemas, security schemes and tags of every service's own document (<c>/openapi/v1.json</c>,
/// fetched through service discovery like the management routes), merged. A service that does not
/// answer is left out and named in <c>x-veil-unavailable</c>; the merge is kept for
/// <see cref="CacheFor"/>, so the docs page costs the services one fetch each at most that often.
/// </summary>
internal sealed class ApiReference(IHttpClientFactory clients, TimeProvider time, ILogger<ApiReference> logger)
{
    public const string HttpClientName = "veil-openapi";

    /// <summary>How long a merged document is served before the services are asked again.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private (byte[] Json, DateTimeOffset At)? _cached;

    /// <summary>The merged document as UTF-8 JSON.</summary>
    public async Task<byte[]> DocumentAsync(CancellationToken cancellationToken)
    {
        if (_cached is { } hit && time.GetUtcNow() - hit.At < CacheFor)
        {
            return hit.Json;
        }
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_cached is { } again && time.GetUtcNow() - again.At < CacheFor)
            {
                return again.Json;
            }
            var documents = await Task.WhenAll(ManagementRoutes.ServiceNames.Select(s => FetchAsync(s, cancellationToken)));
            var json = JsonSerializer.SerializeToUtf8Bytes(Merge(documents), ReferenceJson.Options);
            _cached = (json, time.GetUtcNow());
            return json;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<(string Service, JsonObject? Document)> FetchAsync(string service, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(FetchTimeout);
            var client = clients.CreateClient(HttpClientName);
            await using var stream = await client.GetStreamAsync($"http://_http.{service}/openapi/v1.json", timeout.Token);
            return (service, await JsonNode.ParseAsync(stream, cancellationToken: timeout.Token) as JsonObject);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or InvalidOperationException ||
            ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            ReferenceLog.DocumentUnavailable(logger, service, ex);
            return (service, null);
        }
    }

    internal static JsonObject Merge(IEnumerable<(string Service, JsonObject? Document)> documents)
    {
        var paths = new JsonObject();
        var schemas = new JsonObject();
        var securitySchemes = new JsonObject();
        var tags = new JsonArray();
        var tagNames = new HashSet<string>(StringComparer.Ordinal);
        var unavailable = new JsonArray();
        JsonNode? security = null;
        string version = "3.0.1";
        foreach (var (service, document) in documents)
        {
            if (document is null)
            {
                unavailable.Add(service);
                continue;
            }
            version = document["openapi"]?.GetValue<string>() ?? version;
            security ??= document["security"]?.DeepClone();
            CopyMissing(document["paths"] as JsonObject, paths);
            // Services share message types (google.rpc.Status, Timestamp…): the same schema, kept once.
            CopyMissing(document["components"]?["schemas"] as JsonObject, schemas);
            CopyMissing(document["components"]?["securitySchemes"] as JsonObject, securitySchemes);
            foreach (var tag in document["tags"] as JsonArray ?? [])
            {
                if (tag?["name"]?.GetValue<string>() is { } name && tagNames.Add(name))
                {
                    tags.Add(tag.DeepClone());
                }
            }
        }
        var merged = new JsonObject
        {
            ["openapi"] = version,
            ["info"] = new JsonObject
            {
                ["title"] = "Veil API",
                ["version"] = "v1",
                ["description"] = "Every management endpoint of the Veil fleet behind the edge (identity, catalog, subscriptions, usage, billing), " +
                    "merged from each service's own document (/openapi/{service}.json). JSON is camelCase, enum values carry no type prefix, " +
                    "errors are application/problem+json, POSTs take Idempotency-Key, updates take If-Match.",
            },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = schemas, ["securitySchemes"] = securitySchemes },
        };
        if (security is not null)
        {
            merged["security"] = security;
        }
        if (tags.Count > 0)
        {
            merged["tags"] = tags;
        }
        if (unavailable.Count > 0)
        {
            merged["x-veil-unavailable"] = unavailable;
        }
        return merged;
    }

    private static void CopyMissing(JsonObject? from, JsonObject to)
    {
        foreach (var (name, value) in from ?? [])
        {
            if (!to.ContainsKey(name))
            {
                to[name] = value?.DeepClone();
            }
        }
    }
}

internal static class ReferenceJson
{
    public static readonly JsonSerializerOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

/// <summary>Log events of the API reference (EventIds 4920–4939).</summary>
internal static partial class ReferenceLog
{
    [LoggerMessage(4920, LogLevel.Warning, "The OpenAPI document of {Service} could not be read; the merged reference leaves it out until it answers")]
    public static partial void DocumentUnavailable(ILogger logger, string service, Exception exception);
}
