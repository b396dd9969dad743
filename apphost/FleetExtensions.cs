using Microsoft.Extensions.Configuration;

namespace Veil.AppHost;

/// <summary>
/// Where the local fleet keeps its data and which ports it listens on. Defaults match each
/// service's appsettings.json; the fleet tests override them (<c>Veil:Ports:identity:http</c>, …)
/// with free ports and a temporary <c>Veil:DataDirectory</c>.
/// </summary>
internal sealed record FleetSettings(string DataDirectory, IConfiguration Configuration, string AdminEmail, string AdminPassword)
{
    private static readonly Dictionary<string, int> DefaultPorts = new()
    {
        ["edge:http"] = 8080,
        ["edge:management"] = 8081,
        ["edge:grpc"] = 8082,
        ["identity:http"] = 5101,
        ["identity:grpc"] = 5102,
        ["catalog:http"] = 5201,
        ["catalog:grpc"] = 5202,
        ["subscriptions:http"] = 5301,
        ["subscriptions:grpc"] = 5302,
        ["ratelimit:http"] = 5401,
        ["ratelimit:grpc"] = 5402,
        ["usage:http"] = 5501,
        ["usage:grpc"] = 5502,
        ["billing:http"] = 5601,
        ["billing:grpc"] = 5602,
        ["upstream:http"] = 5900,
    };

    public static FleetSettings From(IDistributedApplicationBuilder builder)
    {
        var configured = builder.Configuration["Veil:DataDirectory"];
        var data = string.IsNullOrWhiteSpace(configured)
            ? Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", ".data"))
            : Path.GetFullPath(configured);
        return new FleetSettings(
            data,
            builder.Configuration,
            builder.Configuration["Veil:Admin:Email"] ?? "admin@veil.local",
            builder.Configuration["Veil:Admin:Password"] ?? "change-me-admin-password");
    }

    /// <summary>A loopback base URL (a plain string: WithEnvironment would take an interpolated one as an expression).</summary>
    public static string LocalUrl(int port) => "http://localhost:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public int Port(string resource, string endpoint) =>
        Configuration.GetValue<int?>($"Veil:Ports:{resource}:{endpoint}") ?? DefaultPorts[$"{resource}:{endpoint}"];
}

internal static class FleetExtensions
{
    /// <summary>
    /// A Veil gRPC service: an HTTP/1.1 endpoint (REST, health, metrics) and an HTTP/2 endpoint
    /// (gRPC), both on fixed local ports, and its SQLite file under the fleet's data folder.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddVeilService<TProject>(this IDistributedApplicationBuilder builder, string name, FleetSettings fleet)
        where TProject : IProjectMetadata, new()
    {
        var http = fleet.Port(name, "http");
        var grpc = fleet.Port(name, "grpc");
        return builder.AddProject<TProject>(name)
            .WithHttpEndpoint(port: http, name: "http", isProxied: false)
            .WithHttpEndpoint(port: grpc, name: "grpc", isProxied: false)
            .WithEnvironment("Kestrel__Endpoints__Http__Url", FleetSettings.LocalUrl(http))
            .WithEnvironment("Kestrel__Endpoints__Grpc__Url", FleetSettings.LocalUrl(grpc))
            .WithEnvironment("Kestrel__Endpoints__Grpc__Protocols", "Http2")
            .WithEnvironment("Veil__DataDirectory", fleet.DataDirectory)
            // The local fleet is a development run whatever the AppHost's own environment: without
            // Veil:Secrets:Kek, identity, catalog and usage then seal their secrets with the key generated
            // into {data}/development.kek (outside Development they refuse to start without one).
            .WithEnvironment("DOTNET_ENVIRONMENT", "Development")
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
            .WithHttpHealthCheck("/health", endpointName: "http");
    }

    /// <summary>Lets a service validate identity's JWTs (JWKS over identity's HTTP endpoint).</summary>
    public static IResourceBuilder<ProjectResource> WithIdentity(this IResourceBuilder<ProjectResource> service, IResourceBuilder<ProjectResource> identity) =>
        service.WithReference(identity.GetEndpoint("http")).WaitFor(identity);
}
