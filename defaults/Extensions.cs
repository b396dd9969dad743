using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The Aspire service-defaults pattern for Veil: OpenTelemetry, health checks and service discovery,
/// shared by every process of the fleet.
/// </summary>
public static class VeilServiceDefaultsExtensions
{
    private const string HealthPath = "/health";
    private const string AlivePath = "/alive";

    /// <summary>
    /// <c>Veil:Telemetry:Tracing</c>: record spans. Defaults to true exactly when
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; set it to force tracing on (e.g. for a custom
    /// exporter) or off.
    /// </summary>
    public const string TracingEnabledKey = "Veil:Telemetry:Tracing";

    /// <summary>ASP.NET Core's built-in meters (learn.microsoft.com: built-in-metrics-aspnetcore).</summary>
    private static readonly string[] AspNetCoreMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Http.Connections",
        "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.RateLimiting",
        "Microsoft.AspNetCore.Authentication", "Microsoft.AspNetCore.Authorization",
    ];

    /// <summary>Meters every Veil process exports besides the framework's own.</summary>
    public const string MeterPrefix = "Veil.";

    /// <summary>Adds telemetry, health checks and service discovery.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        // No resilience handler here on purpose: it would also wrap gRPC channels, whose retries
        // belong to the gRPC client (dotnet/extensions#4923). Each HTTP client picks its own.
        builder.Services.ConfigureHttpClientDefaults(http => http.AddServiceDiscovery());
        return builder;
    }

    /// <summary>
    /// Metrics (Prometheus scrape endpoint, and OTLP when configured) always; traces and logs over
    /// OTLP when an endpoint is configured. Without an exporter nobody reads a span, so no tracer is
    /// registered: the request path then creates no activities at all (see <see cref="TracingEnabledKey"/>).
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                // ASP.NET Core's built-in meters, named rather than through AddAspNetCoreInstrumentation():
                // the same metrics on .NET 8+, without the middleware that instrumentation wraps around
                // every request.
                .AddMeter(AspNetCoreMeters)
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Yarp.ReverseProxy", "Grpc.AspNetCore.Server", "Grpc.Net.Client")
                .AddMeter(MeterPrefix + "*")
                .AddPrometheusExporter());

        if (builder.Configuration.GetValue(TracingEnabledKey, otlp))
        {
            // Sampling follows the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG variables
            // (default: parent-based, always on).
            telemetry.WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName, MeterPrefix + "*", "Yarp.ReverseProxy")
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx =>
                    !ctx.Request.Path.StartsWithSegments(HealthPath) &&
                    !ctx.Request.Path.StartsWithSegments(AlivePath) &&
                    !ctx.Request.Path.StartsWithSegments("/metrics"))
                .AddGrpcClientInstrumentation()
                .AddHttpClientInstrumentation());
        }

        if (otlp)
        {
            telemetry.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>A liveness check; services add readiness checks (their database) themselves.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// The Kestrel endpoint that, when configured (<c>Kestrel:Endpoints:Management:Url</c>), alone
    /// serves the operations endpoints (health, liveness, metrics and <c>management</c> extras).
    /// </summary>
    public const string ManagementEndpointName = "Management";

    /// <summary>
    /// The port of the management endpoint, or null when none is configured. Its URL must name a
    /// fixed port: requests are told apart by the local port they arrived on.
    /// </summary>
    public static int? ManagementPort(IConfiguration configuration)
    {
        var url = configuration[$"Kestrel:Endpoints:{ManagementEndpointName}:Url"];
        if (string.IsNullOrWhiteSpace(url))
        {
            return null;
        }
        var port = BindingAddress.Parse(url).Port;
        return port > 0
            ? port
            : throw new InvalidOperationException($"Kestrel:Endpoints:{ManagementEndpointName}:Url ('{url}') must name a fixed port.");
    }

    /// <summary>
    /// Maps /health (readiness), /alive (liveness), /metrics (Prometheus) and, where gRPC is used,
    /// the standard grpc.health.v1 service for mesh probes. With a management endpoint configured
    /// (<see cref="ManagementPort"/>) they and <paramref name="management"/>'s extras are served on
    /// its port only, which serves nothing else (404); the other ports never see them.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, Action<IApplicationBuilder>? management = null)
    {
        if (ManagementPort(app.Configuration) is { } port)
        {
            // A branch on the local port, not RequireHost: the Host header is the client's to choose.
            // Requests on the other ports never enter it, and nothing else is mapped here.
            app.MapWhen(context => context.Connection.LocalPort == port, branch =>
            {
                branch.UseHealthChecks(HealthPath);
                branch.UseHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
                branch.UseOpenTelemetryPrometheusScrapingEndpoint();
                management?.Invoke(branch);
                branch.Run(static context => TypedResults.Problem(
                    statusCode: StatusCodes.Status404NotFound,
                    detail: "Nothing is served at this path on the management port.",
                    type: "https://veil.dev/problems/404").ExecuteAsync(context));
            });
            return app;
        }

        management?.Invoke(app);
        app.MapHealthChecks(HealthPath);
        app.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        app.MapPrometheusScrapingEndpoint();
        if (app.Services.GetService<HealthServiceImpl>() is not null)
        {
            app.MapGrpcHealthChecksService();
        }
        return app;
    }

    /// <summary>
    /// Adds gRPC with JSON transcoding (enum values without their type prefix), rich error details,
    /// <c>Idempotency-Key</c> (<see cref="IdempotencyOptions"/>), the grpc.health.v1 service and an
    /// OpenAPI document of the REST surface (proto comments, bearer scheme, problem schema).
    /// </summary>
    public static TBuilder AddVeilGrpc<TBuilder>(this TBuilder builder, string title) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddGrpc(o =>
        {
            o.EnableDetailedErrors = builder.Environment.IsDevelopment();
            o.Interceptors.Add<ExceptionInterceptor>();
            // Inside the exception interceptor: replays, 422 and 409 are ordinary RpcExceptions.
            o.Interceptors.Add<IdempotencyInterceptor>();
        }).AddJsonTranscoding(o =>
        {
            // Rich error details travel in REST error bodies too; they must be known to print them.
            o.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(
                Google.Rpc.BadRequest.Descriptor, Google.Rpc.ErrorInfo.Descriptor, Google.Rpc.PreconditionFailure.Descriptor,
                Google.Rpc.RetryInfo.Descriptor);
            // "PROVIDER", not "ROLE_PROVIDER". Input keeps accepting the prefixed names (the
            // transcoder falls back to the original name), so older clients go on working.
            o.JsonSettings.RemoveEnumPrefix = true;
        });
        builder.Services.AddGrpcHealthChecks();
        builder.Services.AddOptions<IdempotencyOptions>().BindConfiguration(IdempotencyOptions.SectionName)
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        // A factory, not a type: a service without a database (ratelimit) never resolves it, and
        // Development's ValidateOnBuild must not ask for a SqliteDatabase it does not have.
        builder.Services.AddSingleton(sp => ActivatorUtilities.CreateInstance<IdempotencyStore>(sp));
        builder.Services.AddHostedService<IdempotencyCleanup>();
        builder.Services.AddGrpcSwagger();
        builder.Services.AddSwaggerGen(o => OpenApiDocs.Configure(o, title));
        builder.Services.AddProblemDetails();
        builder.Services.AddVeilAuthentication(builder.Configuration);
        return builder;
    }

    /// <summary>The metrics tag ASP.NET Core's <c>http.server.request.duration</c> gets on gRPC calls (OpenTelemetry's name).</summary>
    public const string GrpcStatusTag = "rpc.grpc.status_code";

    /// <summary>
    /// Tags each gRPC call's <c>http.server.request.duration</c> with its gRPC status (every gRPC call is
    /// HTTP 200; the status travels in the trailers, or in the headers of a trailers-only answer), so
    /// dashboards and alerts see gRPC errors per method (docs/operations.md).
    /// </summary>
    private static async Task TagGrpcStatus(HttpContext context, RequestDelegate next)
    {
        await next(context);
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true
            && context.Features.Get<IHttpMetricsTagsFeature>() is { } tags)
        {
            var status = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers["grpc-status"] is { Count: > 0 } trailer
                ? trailer.ToString()
                : context.Response.Headers["grpc-status"].ToString();
            tags.Tags.Add(new(GrpcStatusTag, status.Length > 0 ? status : "unknown"));
        }
    }

    /// <summary>
    /// Adds the middleware every gRPC service runs: ProblemDetails for REST errors,
    /// authentication and authorization; and serves the OpenAPI document at /openapi/v1.json.
    /// </summary>
    public static WebApplication UseVeilGrpc(this WebApplication app)
    {
        app.Use(TagGrpcStatus);
        app.UseMiddleware<TranscodingProblemDetailsMiddleware>();
        app.UseMiddleware<EnumQueryValues>();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseSwagger(o => o.RouteTemplate = "openapi/{documentName}.json");
        return app;
    }
}
