using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Veil.Catalog.Data;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

/// <summary>
/// Releases of an API (docs/catalog.md, "Releases"): v1 is the API's own configuration, v2 and up
/// each have their own upstream and policies. Every change is a new config version, so history,
/// diff and rollback cover releases like any other field.
/// </summary>
public sealed partial class CatalogGrpcService
{
    public override async Task<CreateApiReleaseResponse> CreateApiRelease(CreateApiReleaseRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);
        var allowPrivate = _options.CurrentValue.AllowPrivateUpstreams;
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        ReleaseName(errors, request.Name, "name");
        var policies = StoredPolicies.Normalize(request.Policies?.Clone() ?? new ApiPolicies());
        var firstTarget = policies.Targets?.Items.FirstOrDefault()?.Url;
        if (firstTarget is null)
        {
            ApiValidation.UpstreamUrl(errors, request.UpstreamUrl, allowPrivate);
        }
        else if (request.UpstreamUrl.Length > 0 && request.UpstreamUrl != firstTarget)
        {
            errors.Add("upstream_url", "Leave it empty when policies.targets has items: it shows the first target's url.");
        }
        ApiValidation.Policies(errors, request.Policies, "policies", allowPrivate);
        errors.ThrowIfAny();

        var maxReleases = _options.CurrentValue.MaxReleasesPerApi;
        var change = await _store.UpdateAsync(
            request.ApiId,
            caller.IsAdmin ? null : caller.AccountId,
            caller.AccountId,
            api =>
            {
                var releases = StoredReleases.Read(api.Config.Releases);
                if (request.Name == StoredReleases.Default || releases.Any(r => r.Name == request.Name))
                {
                    throw RpcErrors.AlreadyExists(request.Name == StoredReleases.Default
                        ? $"Release v1 is the API's own configuration and always exists: change it with PATCH /v1/apis/{api.Id}/releases/v1."
                        : $"API '{request.ApiId}' already has release {request.Name}: change it with PATCH /v1/apis/{api.Id}/releases/{request.Name}.");
                }
                // v1 counts: the limit is on releases served.
                if (releases.Count(r => r.Name != StoredReleases.Default) + 1 >= maxReleases)
                {
                    throw RpcErrors.FailedPrecondition(
                        $"API '{request.ApiId}' already has {maxReleases} releases, the most allowed (Catalog:MaxReleasesPerApi).");
                }
                releases.Add(new ApiRelease { Name = request.Name, UpstreamUrl = firstTarget ?? request.UpstreamUrl, Policies = policies });
                return api.Config with { Releases = StoredReleases.Write(releases) };
            },
            _options.CurrentValue.MaxVersionsPerApi,
            context.CancellationToken) ?? throw ApiNotFound(request.ApiId);

        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        ThrowIfVersionLimitReached(change, "no release can be added.");
        _feed.Publish(change.Gateway!);
        _metrics.ConfigChanged("create_release");
        CatalogLog.ReleaseCreated(_logger, change.Api.Id, request.Name, change.Api.CurrentVersion, caller.AccountId, change.Gateway!.Revision);
        var api = ToProto(change.Api, visible: true);
        return new CreateApiReleaseResponse { Api = api, Release = api.Releases.First(r => r.Name == request.Name) };
    }

    public override async Task<UpdateApiReleaseResponse> UpdateApiRelease(UpdateApiReleaseRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);
        var allowPrivate = _options.CurrentValue.AllowPrivateUpstreams;
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        ReleaseName(errors, request.Release, "release");
        if (request.HasUpstreamUrl)
        {
            ApiValidation.UpstreamUrl(errors, request.UpstreamUrl, allowPrivate);
        }
        ApiValidation.Policies(errors, request.Policies, "policies", allowPrivate);
        var newFirstTarget = request.Policies?.Targets?.Items.FirstOrDefault()?.Url;
        if (newFirstTarget is not null && request.HasUpstreamUrl && request.UpstreamUrl != newFirstTarget)
        {
            errors.Add("upstream_url", "Leave it out when policies.targets has items: it shows the first target's url.");
        }
        errors.ThrowIfAny();

        var requestedUrl = request.HasUpstreamUrl ? request.UpstreamUrl : null;
        var change = await _store.UpdateAsync(
            request.ApiId,
            caller.IsAdmin ? null : caller.AccountId,
            caller.AccountId,
            api =>
            {
                if (request.Release == StoredReleases.Default)
                {
                    // v1 is the API's own upstream and policies: the same change UpdateApi makes.
                    var policies = StoredPolicies.Read(api.Config.Policies);
                    return api.Config with
                    {
                        UpstreamUrl = UpstreamUrlAfter(requestedUrl, api.Config.UpstreamUrl, policies, request.Policies, newFirstTarget),
                        Policies = request.Policies is { } part ? StoredPolicies.Write(StoredPolicies.Merge(policies, part)) : api.Config.Policies,
                    };
                }
                var releases = StoredReleases.Read(api.Config.Releases);
                var release = releases.FirstOrDefault(r => r.Name == request.Release) ?? throw ReleaseNotFound(request.ApiId, request.Release, api.Config);
                var current = release.Policies ?? new ApiPolicies();
                release.UpstreamUrl = UpstreamUrlAfter(requestedUrl, release.UpstreamUrl, current, request.Policies, newFirstTarget);
                if (request.Policies is { } change)
                {
                    release.Policies = StoredPolicies.Merge(current, change);
                }
                return api.Config with { Releases = StoredReleases.Write(releases) };
            },
            _options.CurrentValue.MaxVersionsPerApi,
            context.CancellationToken) ?? throw ApiNotFound(request.ApiId);

        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        ThrowIfVersionLimitReached(change, "its releases cannot be changed again.");
        if (change.Gateway is not null)
        {
            _feed.Publish(change.Gateway);
            _metrics.ConfigChanged("update_release");
            CatalogLog.ReleaseUpdated(_logger, change.Api.Id, request.Release, change.Api.CurrentVersion, caller.AccountId, change.Gateway.Revision);
        }
        var api = ToProto(change.Api, visible: true);
        return new UpdateApiReleaseResponse { Api = api, Release = api.Releases.First(r => r.Name == request.Release) };
    }

    public override async Task<DeprecateApiReleaseResponse> DeprecateApiRelease(DeprecateApiReleaseRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);
        var now = _time.GetUtcNow();
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        ReleaseName(errors, request.Release, "release");
        if (request.SunsetTime is { } sunset && (sunset.Seconds < 0 || sunset.Nanos is < 0 or > 999_999_999 || sunset.ToDateTimeOffset() <= now))
        {
            errors.Add("sunset_time", "Must be a time after now (RFC 3339, e.g. 2027-06-30T00:00:00Z), or left out for no sunset.");
        }
        var link = request.Link.Length > 0 ? DeprecationLink(errors, "link", request.Link) ?? "" : "";
        errors.ThrowIfAny();

        var change = await _store.UpdateAsync(
            request.ApiId,
            caller.IsAdmin ? null : caller.AccountId,
            caller.AccountId,
            api =>
            {
                var releases = StoredReleases.Read(api.Config.Releases);
                var release = releases.FirstOrDefault(r => r.Name == request.Release);
                if (release is null)
                {
                    if (request.Release != StoredReleases.Default)
                    {
                        throw ReleaseNotFound(request.ApiId, request.Release, api.Config);
                    }
                    release = new ApiRelease { Name = StoredReleases.Default };
                    releases.Add(release);
                }
                // Deprecating again changes the sunset and link; the deprecation keeps its first date.
                if (release.State != ApiReleaseState.Deprecated)
                {
                    release.State = ApiReleaseState.Deprecated;
                    release.DeprecateTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds()));
                }
                release.SunsetTime = request.SunsetTime is { } time
                    ? Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeSeconds(time.ToDateTimeOffset().ToUnixTimeSeconds()))
                    : null;
                release.DeprecationLink = link;
                return api.Config with { Releases = StoredReleases.Write(releases) };
            },
            _options.CurrentValue.MaxVersionsPerApi,
            context.CancellationToken) ?? throw ApiNotFound(request.ApiId);

        Activity.Current?.SetTag("veil.api_id", change.Api.Id);
        ThrowIfVersionLimitReached(change, "its releases cannot be deprecated.");
        if (change.Gateway is not null)
        {
            _feed.Publish(change.Gateway);
            _metrics.ConfigChanged("deprecate_release");
            CatalogLog.ReleaseDeprecated(_logger, change.Api.Id, request.Release, change.Api.CurrentVersion, caller.AccountId, change.Gateway.Revision);
        }
        var api = ToProto(change.Api, visible: true);
        return new DeprecateApiReleaseResponse { Api = api, Release = api.Releases.First(r => r.Name == request.Release) };
    }

    private static void ReleaseName(FieldViolations errors, string name, string field)
    {
        if (name.Length == 0)
        {
            errors.Add(field, "Required: a release name, \"v\" and a number (v1, v2, …).");
        }
        else if (StoredReleases.Number(name) is null)
        {
            errors.Add(field, "Must be \"v\" and a number from 1 to 999999 without leading zeros, e.g. v2.");
        }
    }


    /// <summary>
    /// The upstream_url after a change: the first target's when the change sets targets, the
    /// requested one otherwise, refused when targets are kept (the upstreams are the targets).
    /// </summary>
    private static string UpstreamUrlAfter(string? requested, string current, ApiPolicies currentPolicies, ApiPolicies? change, string? newFirstTarget)
    {
        if (newFirstTarget is not null)
        {
            return newFirstTarget;
        }
        if (requested is null || requested == current)
        {
            return current;
        }
        var targetsKept = change?.Targets is null && currentPolicies.Targets?.Items.Count > 0;
        return targetsKept
            ? throw RpcErrors.InvalidArgument("upstream_url",
                "The upstreams are policies.targets (upstream_url shows the first): change the targets instead, or set policies.targets to {} to use upstream_url alone.")
            : requested;
    }

    private static RpcException ReleaseNotFound(string apiId, string release, ApiConfig config) =>
        RpcErrors.NotFound($"API '{apiId}' has no release {release}; its releases are " +
            string.Join(", ", StoredReleases.Names(config.Releases)) + ".");
}
