var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();                       // OpenTelemetry, health, service discovery
builder.AddEdgeServices();                          // YARP, routes from catalog, key and entitlement checks

var app = builder.Build();

app.MapDefaultEndpoints();                          // /health, /alive, /metrics
app.MapEdge();                                      // /_veil/edge, the proxy and its pipeline, 404s

app.Run();
