using Veil.Catalog.Grpc;
using Veil.Identity.Grpc;
using Veil.Subscriptions.Grpc;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The control plane every edge fixture puts edges in front of: real identity, catalog and
/// subscriptions hosts (each with its own SQLite folder) wired to each other, catalog allowing
/// private upstreams (the echo upstream is on loopback).
/// </summary>
public sealed class ControlPlane : IAsyncDisposable
{
    public ServiceHost<IdentityGrpcService> Identity { get; } = new();
    public ServiceHost<CatalogGrpcService> Catalog { get; } = new();
    public ServiceHost<SubscriptionsGrpcService> Subscriptions { get; } = new();

    /// <summary>Identity's HTTP base URL without the trailing slash: the token authority.</summary>
    public string Authority => Identity.HttpUrl.ToString().TrimEnd('/');

    /// <summary>
    /// Starts identity, then catalog and subscriptions trusting its tokens;
    /// <paramref name="configureCatalog"/> changes the catalog host before it starts (e.g. its clock).
    /// </summary>
    public void Start(Action<ServiceHost<CatalogGrpcService>>? configureCatalog = null)
    {
        Identity.Start();
        Catalog.With("Veil:Auth:Authority", Authority)
            .With("services:identity:http:0", Authority)
            .With("Catalog:AllowPrivateUpstreams", "true")
            // Lifecycle changes are pushed to subscriptions (it starts after catalog; catalog retries).
            .With("services:subscriptions:grpc:0", Subscriptions.GrpcUrl.ToString());
        configureCatalog?.Invoke(Catalog);
        Catalog.Start();
        Subscriptions.With("Veil:Auth:Authority", Authority)
            .With("services:identity:http:0", Authority)
            .With("services:catalog:grpc:0", Catalog.GrpcUrl.ToString())
            .With("services:catalog:http:0", Catalog.HttpUrl.ToString())
            .Start();
    }

    /// <summary>The service-discovery settings that point an edge at these three services.</summary>
    public Dictionary<string, string> Endpoints() => new()
    {
        ["services:identity:http:0"] = Identity.HttpUrl.ToString(),
        ["services:identity:grpc:0"] = Identity.GrpcUrl.ToString(),
        ["services:catalog:http:0"] = Catalog.HttpUrl.ToString(),
        ["services:catalog:grpc:0"] = Catalog.GrpcUrl.ToString(),
        ["services:subscriptions:http:0"] = Subscriptions.HttpUrl.ToString(),
        ["services:subscriptions:grpc:0"] = Subscriptions.GrpcUrl.ToString(),
    };

    /// <summary>Points an in-process <paramref name="edge"/> at these services; the caller starts it.</summary>
    public ServiceHost<EdgeOptions> Wire(ServiceHost<EdgeOptions> edge)
    {
        foreach (var (key, value) in Endpoints())
        {
            edge.With(key, value);
        }
        return edge;
    }

    public async ValueTask DisposeAsync()
    {
        await Subscriptions.DisposeAsync();
        await Catalog.DisposeAsync();
        await Identity.DisposeAsync();
    }
}
