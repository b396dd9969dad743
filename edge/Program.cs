var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();                       // OpenTelemetry, health, service discovery
builder.AddEdgeServices();                          // YARP, routes from catalog, key and entitlement checks

var app = builder.Build();

app.MapDefaultEndpoints(m => m.MapEdgeStatus());    // management port only: /health, /alive, /metrics, /_veil/edge
app.MapEdge();                                      // the proxy and its pipeline, 404s

app.Run();
