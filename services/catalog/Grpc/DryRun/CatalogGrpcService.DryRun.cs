using Veil.Catalog.Data;
using Veil.Catalog.V1;

namespace Veil.Catalog.Grpc;

/// <summary>
/// Dry runs (<c>validate_only</c>) of CreateApi and UpdateApi: the same validation and the same
/// store transaction, rolled back — so a dry run answers exactly what the real call would (every
/// field error, a taken slug, a limit) and what it would change, and stores nothing.
/// </summary>
public sealed partial class CatalogGrpcService
{
    /// <summary>The API a create would make: no id (none was stored), its fields as changes.</summary>
    private CreateApiResponse DryRunCreate(ApiRecord wouldBe)
    {
        var api = ToProto(wouldBe, visible: true);
        api.Id = "";
        api.CreateTime = null;
        api.UpdateTime = null;
        var response = new CreateApiResponse { Api = api };
        response.Changes.AddRange(ApiDiff.Between(new Api(), api));
        return response;
    }

    /// <summary>Adds to <paramref name="response"/> what the update changed (or would change).</summary>
    private UpdateApiResponse Changes(UpdateApiResponse response, ApiChange change)
    {
        if (change.Before is { } before && !ReferenceEquals(before, change.Api))
        {
            response.Changes.AddRange(ApiDiff.Between(ToProto(before, visible: true), response.Api));
        }
        return response;
    }
}
