using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Catalog.Data;
using Veil.Catalog.Lifecycle;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

/// <summary>
/// The API lifecycle (docs/catalog.md, "Lifecycle: suspend, deprecate, delete"): SuspendApi,
/// ResumeApi, DeprecateApi, DeleteApi. Owner and admins only (anyone else: NotFound). A change
/// is not a config version: it bumps the gateway revision (the edges apply it) and is pushed to
/// subscriptions before the answer (<see cref="LifecycleSync"/>). A transition the state does not
/// allow is 409 (Aborted) naming the state and what to do.
/// </summary>
public sealed partial class CatalogGrpcService
{
    private const int MaxLinkLength = 2048;
    private static readonly TimeSpan MaxSunsetAhead = TimeSpan.FromDays(3650);

    private readonly LifecycleSync _lifecycle;
    private readonly IOptionsMonitor<CatalogLifecycleOptions> _lifecycleOptions;

    public override async Task<SuspendApiResponse> SuspendApi(SuspendApiRequest request, ServerCallContext context)
    {
        var (caller, owner) = LifecycleCaller(context, request.ApiId);
        var change = await ChangeLifecycleAsync(request.ApiId, owner, (api, now) => api.Life.StateAt(now) switch
        {
            ApiState.Active or ApiState.Deprecated => api.Life with { SuspendedAt = now },
            ApiState.Suspended => throw Conflict(api, now, $"It is already suspended: resume it with POST /v1/apis/{api.Id}:resume."),
            _ => throw Conflict(api, now, "A deleted API cannot be suspended."),
        }, context);
        if (change.Gateway is { } gateway)
        {
            CatalogLog.ApiSuspended(_logger, change.Api.Id, caller.AccountId, gateway.Revision);
        }
        return new SuspendApiResponse { Api = ToProto(change.Api, visible: true) };
    }

    public override async Task<ResumeApiResponse> ResumeApi(ResumeApiRequest request, ServerCallContext context)
    {
        var (caller, owner) = LifecycleCaller(context, request.ApiId);
        var change = await ChangeLifecycleAsync(request.ApiId, owner, (api, now) => api.Life.StateAt(now) == ApiState.Suspended
            ? api.Life with { SuspendedAt = 0 }
            : throw Conflict(api, now, "Only a suspended API can be resumed: there is nothing to resume."), context);
        if (change.Gateway is { } gateway)
        {
            CatalogLog.ApiResumed(_logger, change.Api.Id, caller.AccountId, StateName(change.Api.Life.StateAt(NowMs)), gateway.Revision);
        }
        return new ResumeApiResponse { Api = ToProto(change.Api, visible: true) };
    }

    public override async Task<DeprecateApiResponse> DeprecateApi(DeprecateApiRequest request, ServerCallContext context)
    {
        var (caller, owner) = LifecycleCaller(context, request.ApiId);
        var errors = new FieldViolations();
        var sunset = request.SunsetTime.Length > 0 ? SunsetTime(errors, "sunset_time", request.SunsetTime) : null;
        var link = request.Link.Length > 0 ? DeprecationLink(errors, "link", request.Link) : null;
        errors.ThrowIfAny();

        // What the request names replaces; what it leaves out is kept (deprecating again moves the sunset or the link).
        var change = await ChangeLifecycleAsync(request.ApiId, owner, (api, now) => api.Life.StateAt(now) switch
        {
            ApiState.Active or ApiState.Deprecated or ApiState.Suspended => api.Life with
            {
                DeprecateTime = api.Life.DeprecateTime > 0 ? api.Life.DeprecateTime : now,
                SunsetTime = sunset ?? api.Life.SunsetTime,
                DeprecationLink = link ?? api.Life.DeprecationLink,
            },
            _ => throw Conflict(api, now, "A deleted API is already deprecated; its sunset can no longer change."),
        }, context);
        if (change.Gateway is { } gateway)
        {
            var at = change.Api.Life.SunsetTime;
            CatalogLog.ApiDeprecated(_logger, change.Api.Id, caller.AccountId, at > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null, gateway.Revision);
        }
        return new DeprecateApiResponse { Api = ToProto(change.Api, visible: true) };
    }

    public override async Task<DeleteApiResponse> DeleteApi(DeleteApiRequest request, ServerCallContext context)
    {
        var (caller, owner) = LifecycleCaller(context, request.ApiId);
        var errors = new FieldViolations();
        var sunset = request.SunsetTime.Length > 0 ? SunsetTime(errors, "sunset_time", request.SunsetTime) : null;
        errors.ThrowIfAny();

        var defaultSunset = _lifecycleOptions.CurrentValue.DefaultSunset;
        var change = await ChangeLifecycleAsync(request.ApiId, owner, (api, now) => api.Life.StateAt(now) switch
        {
            ApiState.Active or ApiState.Deprecated => api.Life with
            {
                DeletedAt = now,
                // A deleted API is deprecated from now on (unless it already was), so its calls carry the headers.
                DeprecateTime = api.Life.DeprecateTime > 0 ? api.Life.DeprecateTime : now,
                SunsetTime = sunset ?? (api.Life.SunsetTime > now ? api.Life.SunsetTime : now + (long)defaultSunset.TotalMilliseconds),
            },
            ApiState.Suspended => throw Conflict(api, now,
                $"Resume it first (POST /v1/apis/{api.Id}:resume), then delete it: a deleted API keeps serving its subscribers until the sunset."),
            ApiState.Retiring => throw Conflict(api, now, "It is already deleted."),
            _ => throw Conflict(api, now, "Nothing can change a retired API."),
        }, context);
        if (change.Gateway is { } gateway)
        {
            CatalogLog.ApiDeleted(_logger, change.Api.Id, caller.AccountId, DateTimeOffset.FromUnixTimeMilliseconds(change.Api.Life.SunsetTime), gateway.Revision);
        }
        return new DeleteApiResponse { Api = ToProto(change.Api, visible: true) };
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Providers and admins with the api:write scope; the owner filter for the store (null for admins).</summary>
    private static (Caller Caller, string? Owner) LifecycleCaller(ServerCallContext context, string apiId)
    {
        var caller = ProviderOrAdmin(context, apiId);
        caller.RequireScope(VeilClaims.Scopes.ApiWrite);
        var errors = new FieldViolations();
        RequireApiId(errors, apiId);
        errors.ThrowIfAny();
        return (caller, caller.IsAdmin ? null : caller.AccountId);
    }

    /// <summary>Stores the change, publishes the new revision to the edges and pushes it to subscriptions.</summary>
    private async Task<LifecycleChange> ChangeLifecycleAsync(string apiId, string? owner, Func<ApiRecord, long, ApiLifecycle> change, ServerCallContext context)
    {
        var result = await _store.ChangeLifecycleAsync(apiId, owner, change, context.CancellationToken) ?? throw ApiNotFound(apiId);
        Activity.Current?.SetTag("veil.api_id", result.Api.Id);
        if (result.Gateway is { } gateway)
        {
            _feed.Publish(gateway);
            // Subscriptions refuses new subscriptions from the moment it has this; if it cannot be
            // reached now, LifecycleSync keeps pushing (the change itself is committed and served).
            await _lifecycle.TryPushAsync(new UnsyncedLifecycle(result.Api.Id, result.Api.Life, gateway.Revision), context.CancellationToken);
        }
        return result;
    }

    /// <summary>The lifecycle fields of <paramref name="proto"/> from <paramref name="api"/>'s lifecycle, at catalog's clock.</summary>
    private void SetLifecycle(Api proto, ApiRecord api)
    {
        var life = api.Life;
        proto.State = life.StateAt(NowMs);
        if (life.DeprecateTime > 0)
        {
            proto.DeprecateTime = UnixMs.ToTimestamp(life.DeprecateTime);
        }
        if (life.SunsetTime > 0)
        {
            proto.SunsetTime = UnixMs.ToTimestamp(life.SunsetTime);
        }
        proto.DeprecationLink = life.DeprecationLink;
    }

    /// <summary>Whether only the owner and admins may see the API (RETIRED: deleted, past its sunset).</summary>
    private bool IsRetired(ApiRecord api) => api.Life.StateAt(NowMs) == ApiState.Retired;

    /// <summary>409: the API's state does not allow the transition; says which state it is in and what to do.</summary>
    private static RpcException Conflict(ApiRecord api, long now, string whatToDo)
    {
        var life = api.Life;
        var state = life.StateAt(now);
        var detail = state switch
        {
            ApiState.Retiring => $" (deleted; calls stop and subscriptions end at its sunset, {Rfc3339(life.SunsetTime)})",
            ApiState.Retired => $" (deleted; its sunset passed at {Rfc3339(life.SunsetTime)})",
            ApiState.Suspended => $" (since {Rfc3339(life.SuspendedAt)})",
            _ => "",
        };
        return RpcErrors.Conflict($"API '{api.Id}' is {StateName(state)}{detail}. {whatToDo}");
    }

    private static string StateName(ApiState state) => state switch
    {
        ApiState.Active => "ACTIVE",
        ApiState.Suspended => "SUSPENDED",
        ApiState.Deprecated => "DEPRECATED",
        ApiState.Retiring => "RETIRING",
        ApiState.Retired => "RETIRED",
        _ => "in an unknown state",
    };

    private static string Rfc3339(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>An RFC 3339 time in the future (at most 10 years ahead), as unix ms; null with a violation otherwise.</summary>
    private long? SunsetTime(FieldViolations errors, string field, string value)
    {
        if (!Rfc3339Pattern().IsMatch(value) ||
            !DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
        {
            errors.Add(field, "Must be an RFC 3339 time with a time zone, e.g. \"2027-06-30T00:00:00Z\".");
            return null;
        }
        var now = _time.GetUtcNow();
        if (parsed <= now)
        {
            errors.Add(field, $"Must be in the future (now is {now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}).");
            return null;
        }
        if (parsed > now + MaxSunsetAhead)
        {
            errors.Add(field, "Must be at most 10 years ahead.");
            return null;
        }
        return parsed.ToUnixTimeMilliseconds();
    }

    /// <summary>An absolute https URL (http only for localhost) fit for <c>Link: &lt;…&gt;</c>; null with a violation otherwise.</summary>
    private static string? DeprecationLink(FieldViolations errors, string field, string value)
    {
        if (value.Length > MaxLinkLength || !Uri.TryCreate(value, UriKind.Absolute, out var uri) ||
            !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)) ||
            uri.UserInfo.Length > 0 || value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>'))
        {
            errors.Add(field, $"Must be an absolute https URL of at most {MaxLinkLength} characters, without spaces, '<', '>' or user info.");
            return null;
        }
        return uri.AbsoluteUri;
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339Pattern();
}
