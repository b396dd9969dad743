using Veil.Usage;
using Veil.Usage.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();                       // OpenTelemetry, health, service discovery
builder.AddVeilGrpc("Veil Usage API");              // gRPC + JSON transcoding + OpenAPI + JWT auth
builder.AddVeilSqlite("usage", typeof(UsageGrpcService).Assembly); // <data>/usage.db, migrations
builder.AddUsageServices();                         // store, quota feed, webhooks, key-expiry notices

var app = builder.Build();

app.UseVeilGrpc();                                  // ProblemDetails, authn, authz, /openapi/v1.json
app.MapDefaultEndpoints();                          // /health, /alive, /metrics, grpc.health.v1
app.MapGrpcService<UsageGrpcService>();

app.Run();
