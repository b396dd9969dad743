using System.Diagnostics.Metrics;
using System.Net.Http;
using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Veil.Catalog.V1;
using Veil.Edge;
using Veil.Edge.Auth;
using Veil.Edge.Pipeline;
using Veil.Edge.RateLimiting;
using Veil.Edge.Routing;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;
using Veil.Subscriptions.V1;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.ServiceDiscovery;

namespace Microsoft.Extensions.Hosting;

/// <summary>Composition of the edge: <c>builder.AddEdgeServices()</c> and <c>app.MapEdge()</c>.</summary>
public static class EdgeExtensions
{
    private const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>Registers the proxy, its routes from catalog, the auth clients and caches, and Kestrel limits.</summary>
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
            // Providers' upstream hosts and addresses stay out of exported metrics (catalog shows
            // an API's upstream only to its owner): outbound instruments keep their other tags.
            .AddView(UpstreamAddressFreeView));
        services.AddOptions<EdgeOptions>().BindConfiguration(EdgeOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        // Only the issuer: a Veil session token sent on an API call is recognised by it and stripped.
        services.AddOptions<VeilAuthOptions>().BindConfiguration("Veil:Auth");
        services.TryAddSingleton(TimeProvider.System);
        services.AddProblemDetails();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<EdgeOptions>>((kestrel, edge) =>
        {
            kestrel.Limits.MaxRequestBodySize = edge.Value.MaxRequestBodySize;
            kestrel.AddServerHeader = false;
        });

        services.AddSingleton<EdgeMetrics>();
        services.AddSingleton<GatewayRouteTable>();
        services.AddSingleton<IConfigChangeListener>(sp => sp.GetRequiredService<GatewayRouteTable>());
        services.AddHostedService<GatewayConfigWatcher>();
        services.AddHealthChecks().AddCheck<GatewayConfigHealthCheck>("gateway-config", tags: ["ready"]);

        services.AddReverseProxy()
            .AddTransforms<EdgeTransformProvider>()
            .AddServiceDiscoveryDestinationResolver();
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<GatewayRouteTable>().Provider);
        services.TryAddSingleton<IHostResolver>(DnsHostResolver.Instance);
        services.AddSingleton<IForwarderHttpClientFactory, EdgeForwarderHttpClientFactory>();
        LimitDiscoveryToManagementRoutes(services);

        services.AddEdgeRateLimiting();
        builder.AddEdgeUsage();
        services.AddSingleton<ApiKeyValidator>();
        services.AddSingleton<EntitlementChecker>();
        // Revocations and cancellations pushed by identity and subscriptions; the caches' TTL is the fallback.
        services.AddSingleton<AuthChangeStreams>();
        services.AddHostedService<KeyChangeWatcher>();
        services.AddHostedService<SubscriptionChangeWatcher>();
        services.AddHealthChecks().AddCheck<AuthChangeHealthCheck>("auth-change-streams");
        // One retry on Unavailable, inside the call's deadline; both RPCs are reads. The mesh and the
        // caller do not retry these on top.
        var retry = new ServiceConfig
        {
            MethodConfigs =
            {
                new MethodConfig
                {
                    Names = { MethodName.Default },
                    RetryPolicy = new RetryPolicy
                    {
                        MaxAttempts = 2,
                        InitialBackoff = TimeSpan.FromMilliseconds(100),
                        MaxBackoff = TimeSpan.FromMilliseconds(500),
                        BackoffMultiplier = 2,
                        RetryableStatusCodes = { StatusCode.Unavailable },
                    },
                },
            },
        };
        // Each of these channels carries one long-lived watch stream (WatchKeyChanges,
        // WatchSubscriptionChanges, WatchGatewayConfig): keep-alive pings notice a dead service (or a
        // silently dropped connection) and end the stream, so its watcher reconnects.
        services.AddGrpcClient<IdentityService.IdentityServiceClient>(o => o.Address = new Uri("http://_grpc.identity"))
            .ConfigureChannel(o => o.ServiceConfig = retry)
            .ConfigurePrimaryHttpMessageHandler(WatchHandler);
        services.AddGrpcClient<SubscriptionService.SubscriptionServiceClient>(o => o.Address = new Uri("http://_grpc.subscriptions"))
            .ConfigureChannel(o => o.ServiceConfig = retry)
            .ConfigurePrimaryHttpMessageHandler(WatchHandler);
        services.AddGrpcClient<CatalogService.CatalogServiceClient>(o => o.Address = new Uri("http://_grpc.catalog"))
            .ConfigurePrimaryHttpMessageHandler(WatchHandler);
        return builder;
    }

    private static SocketsHttpHandler WatchHandler() => new()
    {
        KeepAlivePingDelay = TimeSpan.FromSeconds(20),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        // A watch holds one HTTP/2 stream for ever; unary calls must never queue behind the stream limit.
        EnableMultipleHttp2Connections = true,
    };

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
        app.UseMiddleware<RequestIdMiddleware>();

        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<ApiCallMiddleware>();
            pipeline.UseIpRateLimit();
            pipeline.UseMiddleware<ApiKeyAuthenticationMiddleware>();
            pipeline.UseMiddleware<ApiKeyScopeMiddleware>();
            pipeline.UseMiddleware<EntitlementMiddleware>();
            pipeline.UseConsumerRateLimits();
            pipeline.UseQuotaEnforcement();
            pipeline.UseSessionAffinity();
            pipeline.UseLoadBalancing();
            pipeline.UsePassiveHealthChecks();
        }).ConfigureEndpoints(static (endpoint, route) =>
        {
            // Parsed once per config, read by the pipeline on every call.
            if (ApiRoutes.Describe(route) is { } api)
            {
                endpoint.WithMetadata(api);
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

    private static MetricStreamConfiguration? UpstreamAddressFreeView(Instrument instrument) =>
        instrument.Meter.Name is "System.Net.Http" or "System.Net.NameResolution"
            ? UpstreamFreeTags.TryGetValue(instrument.Name, out var tags)
                ? new MetricStreamConfiguration { TagKeys = tags }
                // An instrument a later runtime adds: dropped until someone checks its tags.
                : MetricStreamConfiguration.Drop
            : null;

    private static void LimitDiscoveryToManagementRoutes(IServiceCollection services)
    {
        var discovery = services.LastOrDefault(d => d.ServiceType == typeof(IDestinationResolver))
            ?? throw new InvalidOperationException("AddServiceDiscoveryDestinationResolver registered no IDestinationResolver.");
        services.Remove(discovery);
        services.AddSingleton<IDestinationResolver>(sp => new ManagementDestinationResolver(discovery switch
        {
            { ImplementationInstance: IDestinationResolver instance } => instance,
            { ImplementationFactory: { } factory } => (IDestinationResolver)factory(sp),
            { ImplementationType: { } type } => (IDestinationResolver)ActivatorUtilities.CreateInstance(sp, type),
            _ => throw new InvalidOperationException("Unexpected IDestinationResolver registration."),
        }));
    }
}

/// <summary>What <c>GET /_veil/edge</c> reports.</summary>
internal sealed record EdgeStatus(long? Revision, int ApiRoutes, bool WatchConnected, DateTimeOffset? AppliedAt,
    bool KeyChangesConnected, bool SubscriptionChangesConnected);

/// <summary>Ready once a catalog config is served; degraded (still serving management routes) before.</summary>
internal sealed class GatewayConfigHealthCheck(GatewayRouteTable table) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(table.ServedRevision >= 0
            ? HealthCheckResult.Healthy($"Serving gateway config revision {table.ServedRevision}.")
            : HealthCheckResult.Degraded("No gateway config from catalog yet; serving management routes only."));
}

/// <summary>
/// YARP's upstream client with a bounded connect time, so a dead upstream is a quick 502, and on
/// every cluster but the management ones the SSRF guard: the handler connects only to the global
/// unicast addresses the upstream's name resolves to (<see cref="GuardedConnect"/>), unless
/// <see cref="EdgeOptions.AllowPrivateUpstreams"/>.
/// </summary>
internal sealed class EdgeForwarderHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger, IOptions<EdgeOptions> options, IHostResolver resolver)
    : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = options.Value.UpstreamConnectTimeout;
        // Management clusters reach the fleet's own services, on private addresses by design; every
        // other cluster is a provider's upstream (fail closed: a new kind of cluster is guarded).
        if (!ManagementRoutes.IsManagementCluster(context.ClusterId))
        {
            handler.ConnectCallback = GuardedConnect.Create(resolver, options.Value.AllowPrivateUpstreams);
        }
    }
}
