using Veil.Identity.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();                       // OpenTelemetry, health, service discovery
builder.AddVeilGrpc("Veil Identity API");           // gRPC + JSON transcoding + OpenAPI + JWT auth
builder.AddVeilSqlite("identity", typeof(IdentityGrpcService).Assembly); // <data>/identity.db, migrations
builder.AddIdentityServices();                      // keys, tokens, store, admin bootstrap

var app = builder.Build();

app.UseVeilGrpc();                                  // ProblemDetails, authn, authz, /openapi/v1.json
app.MapDefaultEndpoints();                          // /health, /alive, /metrics, grpc.health.v1
app.MapIdentityEndpoints();                         // /.well-known/openid-configuration, jwks.json
app.MapGrpcService<IdentityGrpcService>();

app.Run();
