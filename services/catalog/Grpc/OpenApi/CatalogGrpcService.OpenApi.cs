using System.Diagnostics;
using System.Text;
using Google.Api;
using Google.Protobuf;
using Grpc.Core;
using Veil.Catalog.Grpc.OpenApi;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

/// <summary>Publishing from OpenAPI (ImportApi) and the public document (GetApiOpenApi): docs/catalog.md.</summary>
public sealed partial class CatalogGrpcService
{
    public override async Task<ImportApiResponse> ImportApi(ImportApiRequest request, ServerCallContext context)
    {
        var update = request.ApiId.Length > 0;
        var caller = update ? ProviderOrAdmin(context, request.ApiId) : Caller.From(context).RequireRole(VeilClaims.Roles.Provider);
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);

        var errors = new FieldViolations();
        var imported = ReadDocument(errors, request.Document, _options.CurrentValue.AllowPrivateUpstreams);
        var slug = request.Slug;
        if (!update && slug.Length == 0 && imported is not null)
        {
            slug = SlugFromTitle(imported.Name);
            if (slug.Length == 0)
            {
                errors.Add("slug", "Required: info.title has no letters or digits to derive a slug from; give one.");
            }
        }
        errors.ThrowIfAny();
        var document = imported!;

        if (update)
        {
            var existing = await _store.FindAsync(request.ApiId, context.CancellationToken) ?? throw ApiNotFound(request.ApiId);
            if (slug.Length > 0 && slug != existing.Slug)
            {
                throw RpcErrors.InvalidArgument("slug", $"An API's slug never changes: leave it out, or give '{existing.Slug}'.");
            }
            var updated = await UpdateApi(new UpdateApiRequest
            {
                ApiId = request.ApiId,
                Name = document.Name,
                Description = document.Description,
                UpstreamUrl = document.UpstreamUrl,
                OpenapiDocument = request.Document,
            }, context);
            CatalogLog.ApiImported(_logger, updated.Api.Id, document.Version, updated.Api.CurrentVersion, caller.AccountId);
            return new ImportApiResponse { Api = updated.Api };
        }

        var created = await CreateApi(new CreateApiRequest
        {
            Slug = slug,
            Name = document.Name,
            Description = document.Description,
            UpstreamUrl = document.UpstreamUrl,
            OpenapiDocument = request.Document,
        }, context);
        CatalogLog.ApiImported(_logger, created.Api.Id, document.Version, created.Api.CurrentVersion, caller.AccountId);
        return new ImportApiResponse { Api = created.Api };
    }

    public override async Task<HttpBody> GetApiOpenApi(GetApiOpenApiRequest request, ServerCallContext context)
    {
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        var format = request.Format.Length == 0 ? "json" : request.Format.ToLowerInvariant();
        if (format is not ("json" or "yaml"))
        {
            errors.Add("format", "Must be json (the default) or yaml.");
        }
        errors.ThrowIfAny();

        // Public, as GetApi is: consumers read the reference before they subscribe.
        var api = await _store.FindAsync(request.ApiId, context.CancellationToken) ?? throw ApiNotFound(request.ApiId);
        Activity.Current?.SetTag("veil.api_id", api.Id);
        if (api.Config.OpenApiDocument.Length == 0)
        {
            throw RpcErrors.NotFound($"API '{request.ApiId}' has no OpenAPI document: its provider has not published one.");
        }
        var text = Service<PublicOpenApiDocuments>(context).Get(api, format) ?? throw RpcErrors.NotFound(
            $"API '{request.ApiId}' has no OpenAPI document consumers can read: its document is not valid OpenAPI 3.0 or 3.1 " +
            "(its provider can publish one with POST /v1/apis:import).");
        return new HttpBody
        {
            ContentType = format == "yaml" ? "application/yaml; charset=utf-8" : "application/json; charset=utf-8",
            Data = ByteString.CopyFrom(text, Encoding.UTF8),
        };
    }

    /// <summary>
    /// A singleton of this part's own (resolved per call rather than injected, so each capability's
    /// partial file brings its dependencies without touching the shared constructor).
    /// </summary>
    private static T Service<T>(ServerCallContext context) where T : notnull =>
        context.GetHttpContext().RequestServices.GetRequiredService<T>();

    /// <summary>What an import takes from a document.</summary>
    private sealed record ImportedDocument(string Version, string Name, string Description, string UpstreamUrl);

    /// <summary>
    /// Reads and checks the document; every finding is a violation of <c>document</c> whose
    /// description starts with the JSON pointer it is about. Null when there are findings.
    /// </summary>
    private static ImportedDocument? ReadDocument(FieldViolations errors, string document, bool allowPrivate)
    {
        if (string.IsNullOrWhiteSpace(document))
        {
            errors.Add("document", "Required: an OpenAPI 3.0 or 3.1 document, JSON or YAML text.");
            return null;
        }
        if (document.Length > ApiValidation.MaxOpenApiBytes || Encoding.UTF8.GetByteCount(document) > ApiValidation.MaxOpenApiBytes)
        {
            errors.Add("document", "Must be at most 1 MiB (UTF-8).");
            return null;
        }

        var read = OpenApiReaderContext.Read(document);
        if (read.Errors.Count > 0)
        {
            foreach (var error in read.Errors)
            {
                errors.Add("document", $"{error.Pointer}: {error.Message}");
            }
            return null;
        }
        if (read.Version is not ("3.0" or "3.1"))
        {
            errors.Add("document", read.Version == "2.0"
                ? "#/swagger: OpenAPI 2.0 (Swagger) documents are not supported: convert it to OpenAPI 3.0 or 3.1 first."
                : $"#/openapi: OpenAPI {read.Version} is not supported: import an OpenAPI 3.0 or 3.1 document.");
            return null;
        }

        var found = errors.Items.Count;
        var title = read.Title ?? "";
        var description = read.Description ?? "";
        Restate(errors, "#/info/title", e => ApiValidation.Name(e, title));
        Restate(errors, "#/info/description", e => ApiValidation.Description(e, description));
        var upstream = read.Servers is [var first, ..] ? first : null;
        if (upstream is null)
        {
            errors.Add("document", "#/servers: Required: the first server's url is the API's upstream (e.g. servers: [{url: https://api.example.com/v1}]).");
        }
        else
        {
            Restate(errors, "#/servers/0/url", e => ApiValidation.UpstreamUrl(e, upstream, allowPrivate));
        }
        return errors.Items.Count > found ? null : new ImportedDocument(read.Version, title, description, upstream!);
    }

    /// <summary>Runs one field rule and records its findings as <c>document</c> violations at <paramref name="pointer"/>.</summary>
    private static void Restate(FieldViolations errors, string pointer, Action<FieldViolations> rule)
    {
        var found = new FieldViolations();
        rule(found);
        foreach (var violation in found.Items)
        {
            errors.Add("document", $"{pointer}: {violation.Description}");
        }
    }

    /// <summary>
    /// A slug from a title: lower-case ASCII letters and digits, every other run of characters one
    /// hyphen, starting with a letter, at most 63 characters ("Weather API v2" → "weather-api-v2").
    /// </summary>
    internal static string SlugFromTitle(string title)
    {
        var slug = new StringBuilder();
        foreach (var c in title.ToLowerInvariant())
        {
            if (c is >= 'a' and <= 'z' || (c is >= '0' and <= '9' && slug.Length > 0))
            {
                slug.Append(c);
            }
            else if (slug.Length > 0 && slug[^1] != '-')
            {
                slug.Append('-');
            }
        }
        var text = slug.ToString();
        return (text.Length > 63 ? text[..63] : text).TrimEnd('-');
    }
}
