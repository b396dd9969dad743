using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Veil.Edge.Forwarding;
using Yarp.ReverseProxy.Transforms;

BenchmarkSwitcher.FromAssembly(typeof(PolicyTransformBenchmarks).Assembly).Run(args);

/// <summary>
/// The per-call cost of an API's upstream policy (docs/policies.md#cost): the transform forwarding
/// adds to a route with a policy, applied to a typical call (GET /forecast?city=Lisbon&amp;days=3,
/// ids of real length). The baseline is the same call through an empty request transform, which is
/// what an API without policies pays (no transform at all).
/// </summary>
[MemoryDiagnoser]
// In process: no generated project to build (the edge and its protos take minutes to compile).
[InProcess]
public class PolicyTransformBenchmarks
{
    private RequestTransform _none = null!;
    private RequestTransform _credential = null!;
    private RequestTransform _signed = null!;
    private RequestTransform _overlap = null!;
    private RequestTransformContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        _none = new NoTransform();
        _credential = Transform(credentials: 1, keys: 0);
        _signed = Transform(credentials: 1, keys: 1);
        _overlap = Transform(credentials: 1, keys: 2);

        var http = new DefaultHttpContext { TraceIdentifier = "0HNH8V2Q7J3KQ:00000001" };
        http.Request.Method = "GET";
        http.Request.Path = "/forecast";
        http.Request.QueryString = new QueryString("?city=Lisbon&days=3");
        http.Features.Set(new ApiCallFeature("api_7d1kq2m9x0Lz4vB8nY3w", 0)
        {
            ConsumerId = "acc_Q9z8Y7x6W5v4U3t2S1r0",
            SubscriptionId = "sub_A1b2C3d4E5f6G7h8I9j0",
            PlanId = "pln_K1l2M3n4O5p6Q7r8S9t0",
        });
        _context = new RequestTransformContext
        {
            HttpContext = http,
            ProxyRequest = new HttpRequestMessage(HttpMethod.Get, (Uri?)null),
            Path = "/forecast",
            Query = new QueryTransformContext(http.Request),
            DestinationPrefix = "http://127.0.0.1:5900/v1",
        };
    }

    private static RequestTransform Transform(int credentials, int keys)
    {
        var route = new GatewayRoute { ApiId = "api_7d1kq2m9x0Lz4vB8nY3w", Slug = "weather", UpstreamUrl = "http://127.0.0.1:5900/v1" };
        for (var i = 0; i < credentials; i++)
        {
            route.UpstreamCredentials.Add(new UpstreamCredential { Name = "Authorization", Value = "Bearer provider-token-0123456789abcdef" });
        }
        for (var i = 0; i < keys; i++)
        {
            route.SigningKeys.Add(ByteString.CopyFromUtf8($"vsig_{i}abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"));
        }
        return UpstreamPolicy.TryCreate(route, out var policy, out var problem)
            ? new UpstreamPolicyTransform(policy, TimeProvider.System)
            : throw new InvalidOperationException(problem);
    }

    private ValueTask Apply(RequestTransform transform)
    {
        // Each call starts from a fresh upstream request, as YARP's does.
        _context.ProxyRequest.Headers.Clear();
        return transform.ApplyAsync(_context);
    }

    [Benchmark(Baseline = true, Description = "no policy")]
    public ValueTask None() => Apply(_none);

    [Benchmark(Description = "one header credential")]
    public ValueTask Credential() => Apply(_credential);

    [Benchmark(Description = "credential + signature")]
    public ValueTask Signed() => Apply(_signed);

    [Benchmark(Description = "credential + signature, overlap (two keys)")]
    public ValueTask Overlap() => Apply(_overlap);

    private sealed class NoTransform : RequestTransform
    {
        public override ValueTask ApplyAsync(RequestTransformContext context) => ValueTask.CompletedTask;
    }
}
