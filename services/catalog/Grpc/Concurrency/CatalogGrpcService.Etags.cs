using Grpc.Core;
using Veil.Catalog.Data;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

// Optimistic concurrency for APIs (docs/catalog.md, "Concurrent changes"): every change moves
// current_version and updated_at, so they name the state an etag stands for.
public sealed partial class CatalogGrpcService
{
    private static string EtagOf(ApiRecord api) => Etags.Of(api.Id, api.CurrentVersion, api.UpdatedAt);

    /// <summary>The API unchanged, or <c>Aborted</c> (409) when it is no longer the state <paramref name="expected"/> names.</summary>
    private static ApiRecord ThrowIfStale(string? expected, ApiRecord api)
    {
        Etags.ThrowIfStale(expected, EtagOf(api), $"API '{api.Slug}'");
        return api;
    }

    /// <summary>The API, its etag also answered as the ETag header (REST clients send it back as If-Match).</summary>
    private static Api WithEtagHeader(ServerCallContext context, Api api)
    {
        Etags.SetHeader(context, api.Etag);
        return api;
    }
}
