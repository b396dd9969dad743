using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Catalog.Data;
using Veil.Catalog.Edges;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Data;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

/// <summary>
/// The catalog's gRPC (and, through JSON transcoding, REST) surface. Roles and scopes are checked
/// here; ownership is checked in the store's queries, so someone else's API is NotFound.
/// </summary>
public sealed partial class CatalogGrpcService : CatalogService.CatalogServiceBase
{
    private const int MaxQueryLength = 200;
    private const string PageTokenMismatch = "Not a next_page_token from this list; omit it to start from the first page.";

    private readonly CatalogStore _store;
    private readonly ApiSecrets _secrets;
    private readonly TimeProvider _time;
    private readonly GatewayConfigFeed _feed;
    private readonly EdgeReports _edges;
    private readonly CatalogMetrics _metrics;
    private readonly IOptionsMonitor<CatalogOptions> _options;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<CatalogGrpcService> _logger;

    public CatalogGrpcService(CatalogStore store, ApiSecrets secrets, TimeProvider time, GatewayConfigFeed feed, EdgeReports edges, CatalogMetrics metrics,
        IOptionsMonitor<CatalogOptions> options, IHostApplicationLifetime lifetime, ILogger<CatalogGrpcService> logger)
    {
        _store = store;
        _secrets = secrets;
        _time = time;
        _feed = feed;
        _edges = edges;
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
        var allowPrivate = _options.CurrentValue.AllowPrivateUpstreams;
        var policies = StoredPolicies.Normalize(request.Policies?.Clone() ?? new ApiPolicies());
        var firstTarget = policies.Targets?.Items.FirstOrDefault()?.Url;
        ApiValidation.Slug(errors, request.Slug);
        ApiValidation.Name(errors, request.Name);
        ApiValidation.Description(errors, request.Description);
        if (firstTarget is null)
        {
            ApiValidation.UpstreamUrl(errors, request.UpstreamUrl, allowPrivate);
        }
        else if (request.UpstreamUrl.Length > 0 && request.UpstreamUrl != firstTarget)
        {
            errors.Add("upstream_url", "Leave it empty when policies.targets has items: it shows the first target's url.");
        }
        var timeoutMs = ApiValidation.TimeoutMs(errors, request.TimeoutMs);
        ApiValidation.OpenApiDocument(errors, request.OpenapiDocument);
        ApiValidation.UpstreamCredentials(errors, request.UpstreamCredentials, "upstream_credentials");
        ApiValidation.Policies(errors, request.Policies, "policies", allowPrivate);
        errors.ThrowIfAny();

        var id = ResourceIds.New("api");
        var config = new ApiConfig(request.Name, request.Description, firstTarget ?? request.UpstreamUrl, timeoutMs, request.OpenapiDocument,
            _secrets.Seal(id, request.UpstreamCredentials), Policies: StoredPolicies.Write(policies));
        var maxApis = _options.CurrentValue.MaxApisPerProvider;
        var (created, limitReached) = await _store.CreateAsync(id, request.Slug, caller.AccountId, config, maxApis, context.CancellationToken,
            dryRun: request.ValidateOnly);
        if (limitReached)
        {
            throw RpcErrors.FailedPrecondition(
                $"The provider already owns {maxApis} APIs, the most allowed (Catalog:MaxApisPerProvider).");
        }
        var change = created ?? throw RpcErrors.AlreadyExists($"The slug '{request.Slug}' is already taken.");
        if (request.ValidateOnly)
        {
            return DryRunCreate(change.Api);
        }

        _feed.Publish(change.Gateway!);
        _metrics.ConfigChanged("create");
        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        CatalogLog.ApiCreated(_logger, change.Api.Id, change.Api.Slug, caller.AccountId, change.Gateway!.Revision);
        var response = new CreateApiResponse { Api = ToProto(change.Api, visible: true) };
        response.Changes.AddRange(ApiDiff.Between(new Api(), response.Api));
        return response;
    }

    public override async Task<UpdateApiResponse> UpdateApi(UpdateApiRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
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
        if (request.UpstreamCredentials is { } credentials)
        {
            ApiValidation.UpstreamCredentials(errors, credentials.Items, "upstream_credentials.items");
        }
        ApiValidation.Policies(errors, request.Policies, "policies", _options.CurrentValue.AllowPrivateUpstreams);
        var newFirstTarget = request.Policies?.Targets?.Items.FirstOrDefault()?.Url;
        if (newFirstTarget is not null && request.HasUpstreamUrl && request.UpstreamUrl != newFirstTarget)
        {
            errors.Add("upstream_url", "Leave it out when policies.targets has items: it shows the first target's url.");
        }
        errors.ThrowIfAny();

        var change = await _store.UpdateAsync(
            request.ApiId,
            caller.IsAdmin ? null : caller.AccountId,
            caller.AccountId,
            api => api.Config with
            {
                UpstreamUrl = UpstreamUrlAfter(request, api, newFirstTarget),
                Name = request.HasName ? request.Name : api.Config.Name,
                Description = request.HasDescription ? request.Description : api.Config.Description,
                TimeoutMs = request.HasTimeoutMs ? timeoutMs : api.Config.TimeoutMs,
                OpenApiDocument = request.HasOpenapiDocument ? request.OpenapiDocument : api.Config.OpenApiDocument,
                // Unmentioned credentials are copied into the new version; a list replaces them all.
                Credentials = request.UpstreamCredentials is { } replacement ? _secrets.Seal(api.Id, replacement.Items) : api.Config.Credentials,
                // Each policy part the request sets replaces that part; the others are copied.
                Policies = request.Policies is { } change
                    ? StoredPolicies.Write(StoredPolicies.Merge(StoredPolicies.Read(api.Config.Policies), change))
                    : api.Config.Policies,
            },
            _options.CurrentValue.MaxVersionsPerApi,
            context.CancellationToken,
            dryRun: request.ValidateOnly) ?? throw ApiNotFound(request.ApiId);

        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        ThrowIfVersionLimitReached(change, "it cannot be changed again. Publish it under a new slug, or ask an operator to raise the limit.");
        if (request.ValidateOnly)
        {
            return Changes(new UpdateApiResponse { Api = ToProto(change.Api, visible: true) }, change);
        }
        if (change.Gateway is not null)
        {
            _feed.Publish(change.Gateway);
            _metrics.ConfigChanged("update");
            CatalogLog.ApiUpdated(_logger, change.Api.Id, change.Api.CurrentVersion, caller.AccountId, change.Gateway.Revision);
        }
        return Changes(new UpdateApiResponse { Api = ToProto(change.Api, visible: true) }, change);
    }

    public override async Task<RotateApiSigningSecretResponse> RotateApiSigningSecret(RotateApiSigningSecretRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        errors.ThrowIfAny();

        var secret = ApiSecrets.NewSigningSecret();
        var overlapEnd = _time.GetUtcNow() + _options.CurrentValue.SigningSecretOverlap;
        var change = await _store.UpdateAsync(
            request.ApiId,
            caller.IsAdmin ? null : caller.AccountId,
            caller.AccountId,
            // The current secret becomes the previous one (an older previous one is dropped: two at most).
            api => api.Config with
            {
                SigningSecret = _secrets.SealSigningSecret(api.Id, secret),
                PreviousSigningSecret = api.Config.SigningSecret,
                PreviousSigningExpiresAt = api.Config.SigningSecret.Length > 0 ? overlapEnd.ToUnixTimeMilliseconds() : 0,
            },
            _options.CurrentValue.MaxVersionsPerApi,
            context.CancellationToken) ?? throw ApiNotFound(request.ApiId);

        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        ThrowIfVersionLimitReached(change, "its signing secret cannot be rotated.");
        _feed.Publish(change.Gateway!);
        _metrics.ConfigChanged("rotate_signing_secret");
        CatalogLog.SigningSecretRotated(_logger, change.Api.Id, caller.AccountId, change.Api.CurrentVersion, overlapEnd);
        return new RotateApiSigningSecretResponse { Api = ToProto(change.Api, visible: true), SigningSecret = secret };
    }

    public override async Task<DiffApiVersionsResponse> DiffApiVersions(DiffApiVersionsRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        if (request.Version < 1)
        {
            errors.Add("version", "Must be a version number, 1 or more.");
        }
        if (request.OtherVersion < 0)
        {
            errors.Add("other_version", "Must be a version number, or 0 for the version before `version`.");
        }
        else if (request.OtherVersion == 0 && request.Version == 1)
        {
            errors.Add("other_version", "Version 1 has no version before it: name the version to compare with.");
        }
        errors.ThrowIfAny();

        var owner = caller.IsAdmin ? null : caller.AccountId;
        var other = request.OtherVersion == 0 ? request.Version - 1 : request.OtherVersion;
        var after = await _store.GetVersionAsync(request.ApiId, owner, request.Version, context.CancellationToken)
            ?? throw RpcErrors.NotFound($"API '{request.ApiId}' has no version {request.Version} you can see.");
        var before = await _store.GetVersionAsync(request.ApiId, owner, other, context.CancellationToken)
            ?? throw RpcErrors.NotFound($"API '{request.ApiId}' has no version {other} you can see.");
        var response = new DiffApiVersionsResponse { FromVersion = other, ToVersion = request.Version };
        response.Changes.AddRange(ApiDiff.Between(ToProto(before.Api, before.Version).Api, ToProto(after.Api, after.Version).Api));
        return response;
    }

    public override async Task<RollbackApiResponse> RollbackApi(RollbackApiRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        if (request.Version < 1)
        {
            errors.Add("version", "Must be a version number, 1 or more (ListApiVersions shows them).");
        }
        errors.ThrowIfAny();

        var owner = caller.IsAdmin ? null : caller.AccountId;
        var target = await _store.GetVersionAsync(request.ApiId, owner, request.Version, context.CancellationToken)
            ?? throw RpcErrors.NotFound($"API '{request.ApiId}' has no version {request.Version} you can see.");
        var restored = target.Version.Config;
        var change = await _store.UpdateAsync(
            request.ApiId,
            owner,
            caller.AccountId,
            // The configuration of that version; the secrets as they are now (a rotated-out
            // credential or signing secret never comes back by a rollback).
            api => restored with
            {
                Credentials = api.Config.Credentials,
                SigningSecret = api.Config.SigningSecret,
                PreviousSigningSecret = api.Config.PreviousSigningSecret,
                PreviousSigningExpiresAt = api.Config.PreviousSigningExpiresAt,
            },
            _options.CurrentValue.MaxVersionsPerApi,
            context.CancellationToken) ?? throw ApiNotFound(request.ApiId);

        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        ThrowIfVersionLimitReached(change, "it cannot be rolled back.");
        if (change.Gateway is not null)
        {
            _feed.Publish(change.Gateway);
            _metrics.ConfigChanged("rollback");
            CatalogLog.ApiRolledBack(_logger, change.Api.Id, request.Version, change.Api.CurrentVersion, caller.AccountId, change.Gateway.Revision);
        }
        return new RollbackApiResponse { Api = ToProto(change.Api, visible: true) };
    }

    public override async Task<GetApiResponse> GetApi(GetApiRequest request, ServerCallContext context)
    {
        var caller = Caller.TryFrom(context);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        errors.ThrowIfAny();

        var api = await _store.FindAsync(request.ApiId, context.CancellationToken) ?? throw ApiNotFound(request.ApiId);
        var visible = CanSeeConfig(caller, api);
        var response = new GetApiResponse { Api = ToProto(api, visible) };
        if (visible)
        {
            response.Deployment = Deployment(api);
        }
        return response;
    }

    public override async Task<ListApisResponse> ListApis(ListApisRequest request, ServerCallContext context)
    {
        var caller = Caller.TryFrom(context);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var after = PageToken.Decode(errors, request.PageToken, nameof(ListApis), 1)?[0];
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

        var response = new ListApisResponse { NextPageToken = more ? PageToken.Encode(nameof(ListApis), page[^1].Slug) : "" };
        response.Apis.AddRange(page.Select(api => ToProto(api, CanSeeConfig(caller, api))));
        return response;
    }

    public override async Task<ListApiVersionsResponse> ListApiVersions(ListApiVersionsRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        var pageSize = Paging.PageSize(errors, request.PageSize);
        long? before = null;
        string? tokenApiId = null;
        if (PageToken.Decode(errors, request.PageToken, nameof(ListApiVersions), 2) is [var apiId, var version])
        {
            if (long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0)
            {
                (tokenApiId, before) = (apiId, v);
            }
            else
            {
                errors.Add("page_token", PageTokenMismatch);
            }
        }
        errors.ThrowIfAny();

        var result = await _store.ListVersionsAsync(request.ApiId, caller.IsAdmin ? null : caller.AccountId, pageSize, before, context.CancellationToken)
            ?? throw ApiNotFound(request.ApiId);
        var (api, versions, more) = result;
        if (tokenApiId is not null && tokenApiId != api.Id)
        {
            // A token pages through the API it came from only.
            throw RpcErrors.InvalidArgument("page_token", PageTokenMismatch);
        }
        var response = new ListApiVersionsResponse
        {
            NextPageToken = more ? PageToken.Encode(nameof(ListApiVersions), api.Id, versions[^1].Version.ToString(CultureInfo.InvariantCulture)) : "",
        };
        // The documents are left out of list items (up to 1 MiB each): GetApiVersion returns one.
        response.Versions.AddRange(versions.Select(v => ToProto(api, v)));
        return response;
    }

    public override async Task<GetApiVersionResponse> GetApiVersion(GetApiVersionRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        if (request.Version < 1)
        {
            errors.Add("version", "Must be a version number, 1 or more.");
        }
        errors.ThrowIfAny();

        var result = await _store.GetVersionAsync(request.ApiId, caller.IsAdmin ? null : caller.AccountId, request.Version, context.CancellationToken)
            ?? throw RpcErrors.NotFound($"API '{request.ApiId}' has no version {request.Version} you can see.");
        return new GetApiVersionResponse { Version = ToProto(result.Api, result.Version) };
    }

    private ApiVersion ToProto(ApiRecord api, ApiVersionRecord version) => new()
    {
        ApiId = api.Id,
        Version = version.Version,
        // The API as it was when this version was current.
        Api = ToProto(api with { CurrentVersion = version.Version, Config = version.Config, UpdatedAt = version.CreatedAt }, visible: true),
        CreatedBy = version.CreatedBy,
        CreateTime = UnixMs.ToTimestamp(version.CreatedAt),
    };

    /// <summary>
    /// The upstream_url of the new version: the first target's when the request sets targets, the
    /// request's own otherwise, refused when the API keeps targets (its upstreams are the targets).
    /// </summary>
    private static string UpstreamUrlAfter(UpdateApiRequest request, ApiRecord api, string? newFirstTarget)
    {
        if (newFirstTarget is not null)
        {
            return newFirstTarget;
        }
        if (!request.HasUpstreamUrl || request.UpstreamUrl == api.Config.UpstreamUrl)
        {
            return api.Config.UpstreamUrl;
        }
        var targetsKept = request.Policies?.Targets is null && StoredPolicies.Read(api.Config.Policies).Targets?.Items.Count > 0;
        return targetsKept
            ? throw RpcErrors.InvalidArgument("upstream_url",
                "The API's upstreams are its policies.targets (upstream_url shows the first): change the targets instead, or set policies.targets to {} to use upstream_url alone.")
            : request.UpstreamUrl;
    }

    private static bool CanSeeConfig(Caller? caller, ApiRecord api) =>
        caller is not null && (caller.IsAdmin || caller.AccountId == api.ProviderId);

    private Api ToProto(ApiRecord api, bool visible)
    {
        var proto = ToProtoWithoutPolicies(api, visible);
        proto.SignedCalls = api.Config.SigningSecret.Length > 0;
        if (visible)
        {
            // Values are write-only: reads show the hints taken when they were set.
            proto.UpstreamCredentials.AddRange(ApiSecrets.Masked(api.Config.Credentials));
            if (api.Config.PreviousSigningSecret.Length > 0 && api.Config.PreviousSigningExpiresAt > _time.GetUtcNow().ToUnixTimeMilliseconds())
            {
                proto.PreviousSigningSecretExpireTime = UnixMs.ToTimestamp(api.Config.PreviousSigningExpiresAt);
            }
            proto.Policies = StoredPolicies.Read(api.Config.Policies);
        }
        return proto;
    }

    private static Api ToProtoWithoutPolicies(ApiRecord api, bool visible) => new()
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
        CreateTime = UnixMs.ToTimestamp(api.CreatedAt),
        UpdateTime = UnixMs.ToTimestamp(api.UpdatedAt),
    };

    /// <summary>
    /// The caller of an owner-side call: a provider or an admin. Only providers own APIs, so for
    /// anyone else every API is someone else's: <c>NotFound</c>, as for another provider's.
    /// </summary>
    private static Caller ProviderOrAdmin(ServerCallContext context, string apiId)
    {
        var caller = Caller.From(context);
        return caller.IsAdmin || caller.Role == VeilClaims.Roles.Provider ? caller : throw ApiNotFound(apiId);
    }

    /// <summary>FailedPrecondition when the change was not stored because the API has the most versions allowed.</summary>
    private static void ThrowIfVersionLimitReached(ApiChange change, string consequence)
    {
        if (change.VersionLimitReached)
        {
            throw RpcErrors.FailedPrecondition(
                $"The API already has {change.Api.CurrentVersion} config versions, the most catalog keeps per API " +
                $"(Catalog:MaxVersionsPerApi); {consequence}");
        }
    }

    private static void RequireApiId(FieldViolations errors, string apiId)
    {
        if (string.IsNullOrWhiteSpace(apiId))
        {
            errors.Add("api_id", "Required: an API id (api_…) or slug.");
        }
    }

    private static RpcException ApiNotFound(string apiId) => RpcErrors.NotFound($"API '{apiId}' was not found.");
}
