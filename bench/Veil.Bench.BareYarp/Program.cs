using Yarp.ReverseProxy.Configuration;

// Usage: Veil.Bench.BareYarp --urls http://127.0.0.1:9001 --Upstream http://127.0.0.1:9000
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();

var upstream = builder.Configuration["Upstream"] ?? "http://127.0.0.1:5900";
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "upstream", Match = new RouteMatch { Path = "/{**rest}" } }],
    [new ClusterConfig
    {
        ClusterId = "upstream",
        Destinations = new Dictionary<string, DestinationConfig> { ["d"] = new() { Address = upstream } },
    }]);

var app = builder.Build();
app.MapReverseProxy();
app.Run();
