using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Veil.Edge;
using Veil.Edge.Auth;
using Veil.Edge.Calls;
using Veil.Edge.Cors;
using Veil.Edge.Dependencies;
using Veil.Edge.Entitlement;
using Veil.Edge.Forwarding;
using Veil.Edge.Metering;
using Veil.Edge.Quota;
using Veil.Edge.RateLimiting;
using Veil.Edge.Resilience;
using Veil.Edge.Routing;
using Veil.Edge.Upstreams;
using Veil.ServiceDefaults.Security;

namespace Microsoft.Extensions.Hosting;

/// <summary>Composition of the edge: <c>builder.AddEdgeServices()</c> and <c>app.MapEdge()</c>.</summary>
public static class EdgeExtensions
{
    private const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>
    /// Registers the edge's host settings (options, Kestrel limits, metric views), what the steps
    /// share, then each step's services in the order a request meets them.
    /// </summary>
    public static TBuilder AddEdgeServices<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        // Hosting's per-request log scope needs an Activity, which the HttpClient handler then
        // propagates and YARP forwards: all for two Information lines an edge never writes. Off
        // unless configured; with tracing on, the request's activity exists anyway.
        if (builder.Configuration["Logging:LogLevel:" + HostingDiagnosticsCategory] is null)
        {
            builder.Logging.AddFilter(HostingDiagnosticsCategory, LogLevel.None);
        }
        // Per-request instruments an edge gains little from, each a tag-set lookup on every call:
        // in-flight upstream requests mirror http.server.active_requests, queue time shows up in
        // http.client.request.duration, and every request matches a route.
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddView("http.client.active_requests", MetricStreamConfiguration.Drop)
            .AddView("http.client.request.time_in_queue", MetricStreamConfiguration.Drop)
            .AddView("aspnetcore.routing.match_attempts", MetricStreamConfiguration.Drop)
            // The latency SLO (p95 100 ms, p99 200 ms) and alert thresholds (200 ms, 500 ms) need
            // bucket bounds at exactly those values (docs/operations.md); the default lacks 0.2.
            .AddView("http.server.request.duration", new ExplicitBucketHistogramConfiguration { Boundaries = ApiLatencyBuckets })
            // Providers' upstream hosts and addresses stay out of exported metrics (catalog shows
            // an API's upstream only to its owner): outbound instruments keep their other tags.
            .AddView(UpstreamAddressFreeView));
        services.AddOptions<EdgeOptions>().BindConfiguration(EdgeOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        // Only the issuer: a Veil session token sent on an API call is recognised by it and stripped.
        services.AddOptions<VeilAuthOptions>().BindConfiguration("Veil:Auth");
        services.TryAddSingleton(TimeProvider.System);
        services.AddProblemDetails();
        // Listeners: HTTP/1.1, HTTP/2 with prior knowledge, TLS 1.3 with ALPN (EdgeListeners).
        EdgeListeners.ThrowIfWeakTls(builder.Configuration);
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<EdgeOptions>>((kestrel, edge) =>
        {
            kestrel.Limits.MaxRequestBodySize = edge.Value.MaxRequestBodySize;
            kestrel.AddServerHeader = false;
            EdgeListeners.Configure(kestrel);
        });

        // Shared by the steps that ask the fleet's services (Dependencies/): the Veil.Edge meter and
        // the change streams by which identity and subscriptions push revocations and cancellations
        // (the caches' TTL is the fallback).
        services.AddSingleton<EdgeMetrics>();
        services.AddSingleton<AuthChangeStreams>();
        services.AddHealthChecks().AddCheck<AuthChangeHealthCheck>("auth-change-streams");

        var proxy = services.AddReverseProxy();
        proxy.AddEdgeRouting();                  // Routing/: API routes from catalog, management routes
        services.AddEdgeCors();                  // Cors/: preflights answered, CORS headers on calls from allowed origins
        services.AddEdgeRateLimiting();          // RateLimiting/: the IP limit, then key, consumer and plan limits
        services.AddEdgeAuth();                  // Auth/: API keys from identity, key scopes
        services.AddEdgeEntitlement();           // Entitlement/: subscriptions from subscriptions
        builder.AddEdgeQuota();                  // Quota/: exhausted hard quotas from usage
        services.AddEdgeResilience();            // Resilience/: circuit breakers and retries per API
        proxy.AddEdgeUpstreams();                // Upstreams/: weighted round robin, active health checks
        // Forwarding/: transforms and the upstream client; the SSRF guard spares only the fleet's own clusters.
        proxy.AddEdgeForwarding(isFleetCluster: ManagementRoutes.IsManagementCluster);
        builder.AddEdgeMetering();               // Metering/: one usage event per call, spooled and shipped to usage
        services.AddApiReference();              // root: the merged OpenAPI document and the /docs page
        return builder;
    }

    /// <summary>
    /// Serves <c>GET /_veil/edge</c> (routing table revision, watch state) on the management
    /// port's branch (<see cref="VeilServiceDefaultsExtensions.MapDefaultEndpoints"/>).
    /// </summary>
    public static IApplicationBuilder MapEdgeStatus(this IApplicationBuilder management) =>
        management.Map("/_veil/edge", status => status.Run(static context =>
        {
            var table = context.RequestServices.GetRequiredService<GatewayRouteTable>();
            var changes = context.RequestServices.GetRequiredService<AuthChangeStreams>();
            return TypedResults.Ok(new EdgeStatus(table.ServedRevision >= 0 ? table.ServedRevision : null,
                table.ServedApiRouteCount, table.WatchConnected, table.AppliedAt,
                changes.Keys.Connected, changes.Subscriptions.Connected)).ExecuteAsync(context);
        }));

    /// <summary>
    /// Maps the edge: request ids, the proxy with its pipeline and a 404 problem for every path
    /// nothing else serves. Operations endpoints are not here: they live on the management port.
    /// </summary>
    public static WebApplication MapEdge(this WebApplication app)
    {
        // The public listener must never serve /metrics or /health: without a management port
        // MapDefaultEndpoints would put them on every port.
        _ = VeilServiceDefaultsExtensions.ManagementPort(app.Configuration) ?? throw new InvalidOperationException(
            $"The edge needs a management endpoint: set Kestrel:Endpoints:{VeilServiceDefaultsExtensions.ManagementEndpointName}:Url (e.g. http://+:8081).");
        app.UseExceptionHandler();
        app.UseMiddleware<RequestIdMiddleware>();                     // Calls/
        app.MapApiReference();                                        // root: /openapi/veil.json and /docs (ApiReference)
        // Upstreams/: each target's health on this edge, before the route that sends /v1/apis/… to catalog.
        app.MapApiHealth(order: ManagementRoutes.Order - 1);

        // Routing/ picks the route (the table catalog's watch fills); then, in request order:
        var policies = app.Services.GetRequiredService<UpstreamPolicies>();
        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<ReleaseMiddleware>();             // Routing/: unknown release 404, deprecation headers
            pipeline.UseEdgeCors();                                   // Cors/: preflights (not calls: before metering), CORS headers
            pipeline.UseMiddleware<ApiLifecycleMiddleware>();         // Routing/: 503 suspended, 410 past a deleted API's sunset (not calls); Deprecation/Sunset/Link
            pipeline.UseMiddleware<ApiCallMiddleware>();              // Calls/: 405, ApiCallFeature, outcome tag, metering
            pipeline.UseIpRateLimit();                                // RateLimiting/
            pipeline.UseMiddleware<ApiKeyAuthenticationMiddleware>(); // Auth/
            pipeline.UseMiddleware<ApiKeyScopeMiddleware>();          // Auth/
            pipeline.UseMiddleware<EntitlementMiddleware>();          // Entitlement/
            pipeline.UseConsumerRateLimits();                         // RateLimiting/
            pipeline.UseQuotaEnforcement();                           // Quota/
            pipeline.UseResilience();                                 // Resilience/: breakers and retries around balancing and forwarding
            pipeline.UseSessionAffinity();                            // YARP, then Forwarding/'s transforms and client
            pipeline.UseLoadBalancing();                              // Upstreams/' weighted round robin, over healthy targets
            pipeline.UsePassiveHealthChecks();
        }).ConfigureEndpoints((endpoint, route) =>
        {
            // Parsed once per config, read by the pipeline on every call.
            if (ApiRoutes.Describe(route) is { } api)
            {
                endpoint.WithMetadata(api, ReleaseRoutes.Find(route)!);
                // A suspended, deprecated or deleted API's lifecycle, for ApiLifecycleMiddleware.
                if (RouteLifecycle.From(route.Metadata) is { } lifecycle)
                {
                    endpoint.WithMetadata(lifecycle);
                }
                // The API's CORS policy, built with the snapshot's upstream policies, for the CORS step.
                if (route.Metadata!.TryGetValue(UpstreamPolicies.MetadataKey, out var fingerprint) &&
                    policies.Find(api.ApiId, fingerprint)?.Cors is { } cors)
                {
                    endpoint.WithMetadata(cors);
                }
            }
        });

        app.MapFallback("{**path}", static context => Problems.WriteAsync(context, Problems.NotFound));
        return app;
    }

    /// <summary>
    /// Tags the outbound HTTP and DNS instruments may keep: everything the runtime records but
    /// <c>server.address</c>, <c>server.port</c>, <c>network.peer.address</c> and <c>dns.question.name</c>,
    /// which name the upstream (learn.microsoft.com: built-in-metrics-system-net).
    /// </summary>
    private static readonly Dictionary<string, string[]> UpstreamFreeTags = new()
    {
        ["http.client.request.duration"] = ["error.type", "http.request.method", "http.response.status_code", "network.protocol.version", "url.scheme"],
        ["http.client.open_connections"] = ["http.connection.state", "network.protocol.version", "url.scheme"],
        ["http.client.connection.duration"] = ["network.protocol.version", "url.scheme"],
        ["dns.lookup.duration"] = ["error.type"],
    };

    /// <summary>Bucket bounds (s) of <c>http.server.request.duration</c> at the edge: ASP.NET Core's, plus 0.2.</summary>
    internal static readonly double[] ApiLatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private static MetricStreamConfiguration? UpstreamAddressFreeView(Instrument instrument) =>
        instrument.Meter.Name is "System.Net.Http" or "System.Net.NameResolution"
            ? UpstreamFreeTags.TryGetValue(instrument.Name, out var tags)
                ? new MetricStreamConfiguration { TagKeys = tags }
                // An instrument a later runtime adds: dropped until someone checks its tags.
                : MetricStreamConfiguration.Drop
            : null;
}
