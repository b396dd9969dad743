using Veil.AppHost;

var builder = DistributedApplication.CreateBuilder(args);

var fleet = FleetSettings.From(builder);

var identity = builder.AddVeilService<Projects.Veil_Identity>("identity", fleet)
    .WithEnvironment("Identity__Admin__Email", fleet.AdminEmail)
    .WithEnvironment("Identity__Admin__Password", fleet.AdminPassword)
    // Identity refuses the README's default admin password outside Development; a local run is
    // Development (apphost/Properties/launchSettings.json), and says so explicitly here.
    .WithEnvironment("DOTNET_ENVIRONMENT", builder.Environment.EnvironmentName)
    // The OpenID metadata names the edge's public address, never a request's Host header.
    .WithEnvironment("Identity__PublicBaseUrl", FleetSettings.LocalUrl(fleet.Port("edge", "http")));

var catalog = builder.AddVeilService<Projects.Veil_Catalog>("catalog", fleet)
    .WithIdentity(identity)
    // Locally the sample upstream lives on loopback; production keeps the SSRF guard on.
    .WithEnvironment("Catalog__AllowPrivateUpstreams", "true")
    // Public OpenAPI documents name the edge as their server.
    .WithEnvironment("Catalog__PublicBaseUrl", FleetSettings.LocalUrl(fleet.Port("edge", "http")));

var subscriptions = builder.AddVeilService<Projects.Veil_Subscriptions>("subscriptions", fleet)
    .WithIdentity(identity)
    .WithReference(catalog.GetEndpoint("grpc"));

// Token buckets in memory by default; set Veil:Redis (a StackExchange.Redis configuration string,
// e.g. "localhost:6379") to share them in Redis across edges and ratelimit replicas.
var ratelimit = builder.AddVeilService<Projects.Veil_RateLimit>("ratelimit", fleet);
if (!string.IsNullOrWhiteSpace(builder.Configuration["Veil:Redis"]))
{
    ratelimit.WithEnvironment("RateLimit__Redis__Configuration", builder.Configuration["Veil:Redis"]);
}

var usage = builder.AddVeilService<Projects.Veil_Usage>("usage", fleet)
    .WithIdentity(identity)
    // Key-expiry notices: ListExpiringApiKeys on identity's gRPC port.
    .WithReference(identity.GetEndpoint("grpc"))
    // Locally the quota webhooks may point at loopback receivers; production keeps the SSRF guard on.
    .WithEnvironment("Usage__AllowPrivateWebhooks", "true");

var billing = builder.AddVeilService<Projects.Veil_Billing>("billing", fleet)
    .WithIdentity(identity)
    .WithReference(usage.GetEndpoint("grpc"))
    .WithReference(subscriptions.GetEndpoint("grpc"));

// Paid subscriptions ask billing for credit holds (and fail closed when it is down); plan changes
// and deprecated or deleted APIs notify their subscribers through usage's webhook outbox (NotifyConsumers).
subscriptions.WithReference(billing.GetEndpoint("grpc"))
    .WithReference(usage.GetEndpoint("grpc"));

// API lifecycle changes (suspend, deprecate, delete) are pushed to subscriptions (SetApiLifecycle).
catalog.WithReference(subscriptions.GetEndpoint("grpc"));

builder.AddProject<Projects.Veil_Edge>("edge")
    .WithHttpEndpoint(port: fleet.Port("edge", "http"), name: "http", isProxied: false)
    .WithEnvironment("Kestrel__Endpoints__Http__Url", FleetSettings.LocalUrl(fleet.Port("edge", "http")))
    // Prior-knowledge HTTP/2 for gRPC APIs (docs/grpc-and-http2.md).
    .WithHttpEndpoint(port: fleet.Port("edge", "grpc"), name: "grpc", isProxied: false)
    .WithEnvironment("Kestrel__Endpoints__Grpc__Url", FleetSettings.LocalUrl(fleet.Port("edge", "grpc")))
    // Locally the sample upstream lives on loopback; production keeps the edge's SSRF guard on.
    .WithEnvironment("Edge__AllowPrivateUpstreams", "true")
    // Health, metrics and /_veil/edge are served on the management port only (docs/edge.md).
    .WithHttpEndpoint(port: fleet.Port("edge", "management"), name: "management", isProxied: false)
    .WithEnvironment("Kestrel__Endpoints__Management__Url", FleetSettings.LocalUrl(fleet.Port("edge", "management")))
    .WithReference(identity.GetEndpoint("http"))
    .WithReference(identity.GetEndpoint("grpc"))
    .WithReference(catalog.GetEndpoint("http"))
    .WithReference(catalog.GetEndpoint("grpc"))
    .WithReference(subscriptions.GetEndpoint("http"))
    .WithReference(subscriptions.GetEndpoint("grpc"))
    .WithReference(ratelimit.GetEndpoint("grpc"))
    .WithReference(usage.GetEndpoint("http"))
    .WithReference(usage.GetEndpoint("grpc"))
    .WithReference(billing.GetEndpoint("http"))
    .WithHttpHealthCheck("/health", endpointName: "management")
    .WaitFor(identity)
    .WaitFor(catalog)
    .WaitFor(subscriptions)
    .WaitFor(ratelimit)
    .WaitFor(usage)
    .WaitFor(billing);

builder.AddProject<Projects.Veil_Samples_Upstream>("upstream")
    .WithHttpEndpoint(port: fleet.Port("upstream", "http"), name: "http", isProxied: false)
    .WithEnvironment("Kestrel__Endpoints__Http__Url", FleetSettings.LocalUrl(fleet.Port("upstream", "http")))
    .WithHttpHealthCheck("/health");

builder.Build().Run();
