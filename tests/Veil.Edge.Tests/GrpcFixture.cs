using System.Collections.Concurrent;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.Edge.Calls;
using Veil.Edge.Metering;
using Veil.Samples.Greeter;
using Veil.Samples.Greeter.V1;
using Veil.Testing;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Tests;

/// <summary>
/// gRPC through the edge: the metering fleet of <see cref="UsageFixture"/> (control plane, usage),
/// the sample greeter on real Kestrel (its HTTP/2 port on loopback) and one more edge metering
/// into that usage, whose recorder notes the status of every call it records.
/// </summary>
public sealed class GrpcFixture : IAsyncLifetime
{
    /// <summary>The API's timeout (the edge's idle timeout on the upstream call).</summary>
    public const int ApiTimeoutMs = 1500;

    public UsageFixture Fleet { get; } = new();

    public ServiceHost<GreeterGrpcService> Greeter { get; } = new();

    public ServiceHost<EdgeOptions> Edge { get; } = new();

    /// <summary>Every call the edge's metering recorded: API id and the status it recorded.</summary>
    public ConcurrentQueue<(string ApiId, int Status)> Recorded { get; } = new();

    public async ValueTask InitializeAsync()
    {
        await Fleet.InitializeAsync();
        Greeter.Start();
        Fleet.Wire(Edge, Fleet.Usage.GrpcUrl)
            .WithServices(services =>
            {
                services.RemoveAll<IApiCallRecorder>();
                services.AddSingleton<UsageRecorder>();
                services.AddSingleton<IApiCallRecorder>(sp => new NotingRecorder(sp.GetRequiredService<UsageRecorder>(), Recorded));
            })
            .Start();
    }

    public async ValueTask DisposeAsync()
    {
        await Edge.DisposeAsync();
        await Greeter.DisposeAsync();
        await Fleet.DisposeAsync();
    }

    /// <summary>A provider publishes the greeter as a gRPC API (policies.protocol "grpc") with one plan; returns once the edge serves it to a subscribed key.</summary>
    public async Task<(PublishedApi Api, Consumer Consumer)> PublishGreeterAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = Edge.CreateRestClient();
        var signup = await EdgeFixture.PostAsync(http, "v1/auth/signup", null, new
        {
            email = $"provider-{Guid.NewGuid():N}@example.com", password = "correct-horse-battery-staple", role = "PROVIDER",
        }, ct);
        var provider = new Account(signup["account"]!["id"]!.GetValue<string>(), signup["session"]!["accessToken"]!.GetValue<string>());
        var slug = "greeter-" + Guid.NewGuid().ToString("N")[..12];
        var api = await EdgeFixture.PostAsync(http, "v1/apis", provider.Token, new
        {
            slug, name = "Greeter " + slug, upstreamUrl = Greeter.GrpcUrl.ToString(), timeoutMs = ApiTimeoutMs,
            policies = new { protocol = "grpc" },
        }, ct);
        var apiId = api["api"]!["id"]!.GetValue<string>();
        var plan = await EdgeFixture.PostAsync(http, "v1/plans", provider.Token,
            new { apiId, name = "Free", requestsPerSecond = 100_000, burst = 100_000 }, ct);
        var published = new PublishedApi(apiId, slug, plan["plan"]!["id"]!.GetValue<string>(), provider);
        var consumer = await Fleet.ConsumerAsync(published.PlanId);
        using var channel = Channel(Edge.GrpcUrl, slug);
        var client = new GreeterService.GreeterServiceClient(channel);
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                await client.SayHelloAsync(new SayHelloRequest { Name = "warm-up" }, Key(consumer.Key),
                    deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: ct);
                return true;
            }
            catch (Grpc.Core.RpcException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), $"the edge serves /{slug}/ over gRPC");
        return (published, consumer);
    }

    /// <summary>
    /// A channel to an API behind the edge: gRPC paths are absolute (/package.Service/Method), so a
    /// handler puts the API's <c>/{slug}</c> in front (docs/grpc-and-http2.md).
    /// </summary>
    public static GrpcChannel Channel(Uri edge, string slug, HttpMessageHandler? inner = null) =>
        GrpcChannel.ForAddress(edge, new GrpcChannelOptions
        {
            HttpHandler = new SlugHandler(slug, inner ?? new SocketsHttpHandler()),
        });

    /// <summary>The API key as gRPC metadata.</summary>
    public static Grpc.Core.Metadata Key(string? key) => key is null ? [] : new() { { "x-api-key", key } };

    /// <summary>Prefixes every call's path with the API's slug.</summary>
    private sealed class SlugHandler(string slug, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var uri = request.RequestUri!;
            request.RequestUri = new UriBuilder(uri) { Path = "/" + slug + uri.AbsolutePath }.Uri;
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>The real recorder, noting the status each call is recorded with.</summary>
    private sealed class NotingRecorder(UsageRecorder inner, ConcurrentQueue<(string, int)> recorded) : IApiCallRecorder
    {
        public IApiCallRecorder.Started Start(HttpContext context) => inner.Start(context);

        public void Record(HttpContext context, ApiRoute route, ApiCallFeature call, IForwarderErrorFeature? error, in IApiCallRecorder.Started started, bool failed)
        {
            recorded.Enqueue((route.ApiId, context.Response.StatusCode));
            inner.Record(context, route, call, error, started, failed);
        }
    }
}
