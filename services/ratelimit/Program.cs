using Veil.RateLimit;
using Veil.RateLimit.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddVeilGrpc("Veil Rate Limit API");
builder.AddRateLimitServices();

var app = builder.Build();

app.UseVeilGrpc();
app.MapDefaultEndpoints();
app.MapGrpcService<RateLimitGrpcService>();

app.Run();
