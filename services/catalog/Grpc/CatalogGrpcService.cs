using System.Buffers.Text;
using System.Diagnostics;
using System.Text;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Catalog.Data;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

/// <summary>
/// The catalog's gRPC (and, through JSON transcoding, REST) surface. Roles and scopes are checked
/// here; ownership is checked in the store's queries, so someone else's API is NotFound.
/// </summary>
public sealed class CatalogGrpcService : CatalogService.CatalogServiceBase
{
    private const int DefaultPageSize = 20;
    private const int MaxPageSize = 100;
    private const int MaxQueryLength = 200;
    private const string PageTokenPrefix = "slug:";

    private readonly CatalogStore _store;
    private readonly GatewayConfigFeed _feed;
    private readonly CatalogMetrics _metrics;
    private readonly IOptionsMonitor<CatalogOptions> _options;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<CatalogGrpcService> _logger;

    public CatalogGrpcService(CatalogStore store, GatewayConfigFeed feed, CatalogMetrics metrics, IOptionsMonitor<CatalogOptions> options, IHostApplicationLifetime lifetime, ILogger<CatalogGrpcService> logger)
    {
        _store = store;
        _feed = feed;
        _metrics = metrics;
        _options = options;
        _lifetime = lifetime;
        _logger = logger;
    }

    public override async Task<CreateApiResponse> CreateApi(CreateApiRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context)
            .RequireRole(VeilClaims.Roles.Provider)
            .RequireScope(VeilClaims.Scopes.ApiWrite);

        var errors = new FieldViolations();
        ApiValidation.Slug(errors, request.Slug);
        ApiValidation.Name(errors, request.Name);
        ApiValidation.Description(errors, request.Description);
        ApiValidation.UpstreamUrl(errors, request.UpstreamUrl, _options.CurrentValue.AllowPrivateUpstreams);
        var timeoutMs = ApiValidation.TimeoutMs(errors, request.TimeoutMs);
        ApiValidation.OpenApiDocument(errors, request.OpenapiDocument);
        errors.ThrowIfAny();

        var config = new ApiConfig(request.Name, request.Description, request.UpstreamUrl, timeoutMs, request.OpenapiDocument);
        var maxApis = _options.CurrentValue.MaxApisPerProvider;
        var (created, limitReached) = await _store.CreateAsync(request.Slug, caller.AccountId, config, maxApis, context.CancellationToken);
        if (limitReached)
        {
            throw RpcErrors.FailedPrecondition(
                $"The provider already owns {maxApis} APIs, the most allowed (Catalog:MaxApisPerProvider).");
        }
        var change = created ?? throw RpcErrors.AlreadyExists($"The slug '{request.Slug}' is already taken.");

        _feed.Publish(change.Gateway!);
        _metrics.ConfigChanged("create");
        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        CatalogLog.ApiCreated(_logger, change.Api.Id, change.Api.Slug, caller.AccountId, change.Gateway!.Revision);
        return new CreateApiResponse { Api = ToProto(change.Api, visible: true) };
    }

    public override async Task<UpdateApiResponse> UpdateApi(UpdateApiRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context);
        if (!caller.IsAdmin && caller.Role != VeilClaims.Roles.Provider)
        {
            // Only providers own APIs: for anyone else every API is someone else's.
            throw ApiNotFound(request.ApiId);
        }
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);

        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        if (request.HasName)
        {
            ApiValidation.Name(errors, request.Name);
        }
        if (request.HasDescription)
        {
            ApiValidation.Description(errors, request.Description);
        }
        if (request.HasUpstreamUrl)
        {
            ApiValidation.UpstreamUrl(errors, request.UpstreamUrl, _options.CurrentValue.AllowPrivateUpstreams);
        }
        var timeoutMs = request.HasTimeoutMs ? ApiValidation.TimeoutMs(errors, request.TimeoutMs) : 0;
        if (request.HasOpenapiDocument)
        {
            ApiValidation.OpenApiDocument(errors, request.OpenapiDocument);
        }
        errors.ThrowIfAny();

        var maxVersions = _options.CurrentValue.MaxVersionsPerApi;
        var (updated, limitReached) = await _store.UpdateAsync(
            request.ApiId,
            caller.IsAdmin ? null : caller.AccountId,
            caller.AccountId,
            current => current with
            {
                Name = request.HasName ? request.Name : current.Name,
                Description = request.HasDescription ? request.Description : current.Description,
                UpstreamUrl = request.HasUpstreamUrl ? request.UpstreamUrl : current.UpstreamUrl,
                TimeoutMs = request.HasTimeoutMs ? timeoutMs : current.TimeoutMs,
                OpenApiDocument = request.HasOpenapiDocument ? request.OpenapiDocument : current.OpenApiDocument,
            },
            maxVersions,
            context.CancellationToken);
        if (limitReached)
        {
            throw RpcErrors.FailedPrecondition(
                $"The API already has {maxVersions} versions, the most allowed (Catalog:MaxVersionsPerApi); create a new API instead.");
        }
        var change = updated ?? throw ApiNotFound(request.ApiId);

        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        if (change.Gateway is not null)
        {
            _feed.Publish(change.Gateway);
            _metrics.ConfigChanged("update");
            CatalogLog.ApiUpdated(_logger, change.Api.Id, change.Api.CurrentVersion, caller.AccountId, change.Gateway.Revision);
        }
        return new UpdateApiResponse { Api = ToProto(change.Api, visible: true) };
    }

    public override async Task<GetApiResponse> GetApi(GetApiRequest request, ServerCallContext context)
    {
        var caller = Caller.TryFrom(context);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        errors.ThrowIfAny();

        var api = await _store.FindAsync(request.ApiId, context.CancellationToken) ?? throw ApiNotFound(request.ApiId);
        return new GetApiResponse { Api = ToProto(api, CanSeeConfig(caller, api)) };
    }

    public override async Task<ListApisResponse> ListApis(ListApisRequest request, ServerCallContext context)
    {
        var caller = Caller.TryFrom(context);
        var errors = new FieldViolations();
        var pageSize = request.PageSize == 0 ? DefaultPageSize : request.PageSize;
        if (pageSize is < 1 or > MaxPageSize)
        {
            errors.Add("page_size", $"Must be 0 (default {DefaultPageSize}) or 1 to {MaxPageSize}.");
        }
        string? after = null;
        if (request.PageToken.Length > 0 && !TryDecodePageToken(request.PageToken, out after))
        {
            errors.Add("page_token", "Not a token returned by ListApis.");
        }
        if (request.Query.Length > MaxQueryLength)
        {
            errors.Add("query", $"Must be at most {MaxQueryLength} characters.");
        }
        errors.ThrowIfAny();

        var query = request.Query.Trim();
        var (page, more) = await _store.ListAsync(
            pageSize,
            after,
            query.Length == 0 ? null : query,
            request.ProviderId.Length == 0 ? null : request.ProviderId,
            context.CancellationToken);

        var response = new ListApisResponse { NextPageToken = more ? EncodePageToken(page[^1].Slug) : "" };
        response.Apis.AddRange(page.Select(api => ToProto(api, CanSeeConfig(caller, api))));
        return response;
    }

    public override async Task<ListApiVersionsResponse> ListApiVersions(ListApiVersionsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context);
        if (!caller.IsAdmin && caller.Role != VeilClaims.Roles.Provider)
        {
            throw ApiNotFound(request.ApiId);
        }
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        errors.ThrowIfAny();

        var result = await _store.ListVersionsAsync(request.ApiId, caller.IsAdmin ? null : caller.AccountId, context.CancellationToken)
            ?? throw ApiNotFound(request.ApiId);
        var (api, versions) = result;
        var response = new ListApiVersionsResponse();
        response.Versions.AddRange(versions.Select(v => new ApiVersion
        {
            ApiId = api.Id,
            Version = v.Version,
            // The API as it was when this version was current.
            Api = ToProto(api with { CurrentVersion = v.Version, Config = v.Config, UpdatedAt = v.CreatedAt }, visible: true),
            CreatedBy = v.CreatedBy,
            CreateTime = ToTimestamp(v.CreatedAt),
        }));
        return response;
    }

    public override async Task WatchGatewayConfig(WatchGatewayConfigRequest request, IServerStreamWriter<GatewayConfig> responseStream, ServerCallContext context)
    {
        // Internal: no google.api.http binding, so only the gRPC port serves it (mesh policy admits the edge only).
        var edgeId = string.IsNullOrWhiteSpace(request.EdgeId) ? "(unnamed)" : request.EdgeId.Length > 100 ? request.EdgeId[..100] : request.EdgeId;
        // Ending the stream on shutdown lets the host stop now instead of waiting for edges to hang up.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _lifetime.ApplicationStopping);
        var sent = -1L;
        _metrics.WatcherConnected();
        CatalogLog.WatcherConnected(_logger, edgeId);
        try
        {
            while (true)
            {
                var config = await _feed.WaitNewerThanAsync(sent, stop.Token);
                await responseStream.WriteAsync(config, stop.Token);
                sent = config.Revision;
                CatalogLog.ConfigSent(_logger, edgeId, config.Revision, config.Routes.Count);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The edge hung up or the catalog is stopping: a normal end of the stream.
        }
        catch (IOException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The connection went away mid-write.
        }
        finally
        {
            _metrics.WatcherDisconnected();
            CatalogLog.WatcherDisconnected(_logger, edgeId, sent);
        }
    }

    private static bool CanSeeConfig(Caller? caller, ApiRecord api) =>
        caller is not null && (caller.IsAdmin || caller.AccountId == api.ProviderId);

    private static Api ToProto(ApiRecord api, bool visible) => new()
    {
        Id = api.Id,
        Slug = api.Slug,
        Name = api.Config.Name,
        Description = api.Config.Description,
        ProviderId = api.ProviderId,
        // The upstream and the OpenAPI document are the provider's business.
        UpstreamUrl = visible ? api.Config.UpstreamUrl : "",
        OpenapiDocument = visible ? api.Config.OpenApiDocument : "",
        TimeoutMs = api.Config.TimeoutMs,
        CurrentVersion = api.CurrentVersion,
        CreateTime = ToTimestamp(api.CreatedAt),
        UpdateTime = ToTimestamp(api.UpdatedAt),
    };

    private static Timestamp ToTimestamp(long unixMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));

    private static void RequireApiId(FieldViolations errors, string apiId)
    {
        if (string.IsNullOrWhiteSpace(apiId))
        {
            errors.Add("api_id", "Required: an API id (api_…) or slug.");
        }
    }

    private static RpcException ApiNotFound(string apiId) => RpcErrors.NotFound($"API '{apiId}' was not found.");

    private static string EncodePageToken(string lastSlug) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(PageTokenPrefix + lastSlug));

    private static bool TryDecodePageToken(string token, out string? lastSlug)
    {
        lastSlug = null;
        if (token.Length > 200)
        {
            return false;
        }
        var buffer = new byte[Base64Url.GetMaxDecodedLength(token.Length)];
        if (Base64Url.DecodeFromChars(token, buffer, out var consumed, out var written) != System.Buffers.OperationStatus.Done || consumed != token.Length)
        {
            return false;
        }
        var text = Encoding.UTF8.GetString(buffer, 0, written);
        if (!text.StartsWith(PageTokenPrefix, StringComparison.Ordinal) || text.Length == PageTokenPrefix.Length)
        {
            return false;
        }
        lastSlug = text[PageTokenPrefix.Length..];
        return true;
    }
}
