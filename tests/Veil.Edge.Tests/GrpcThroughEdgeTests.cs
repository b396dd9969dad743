using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Veil.Samples.Greeter;
using Veil.Samples.Greeter.V1;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// gRPC APIs through a real edge (docs/grpc-and-http2.md): the sample greeter on loopback HTTP/2,
/// called with Grpc.Net.Client over the edge's prior-knowledge HTTP/2 listener with the key in
/// metadata; the edge's own errors as gRPC statuses; metering once per call.
/// </summary>
public sealed class GrpcThroughEdgeTests(GrpcFixture fixture) : IClassFixture<GrpcFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Unary_KeyInMetadata_AnswersWithTheGreetersTrailer_AndItsDeadline()
    {
        var (api, consumer) = await fixture.PublishGreeterAsync();
        using var channel = GrpcFixture.Channel(fixture.Edge.GrpcUrl, api.Slug);
        var client = new GreeterService.GreeterServiceClient(channel);

        using var call = client.SayHelloAsync(new SayHelloRequest { Name = "Ada" }, GrpcFixture.Key(consumer.Key),
            deadline: DateTime.UtcNow.AddSeconds(20), cancellationToken: TestContext.Current.CancellationToken);
        var reply = await call.ResponseAsync.WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.Equal("Hello Ada", reply.Message);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        // The trailer the greeter set crossed the edge, and it tells that the caller's deadline
        // (grpc-timeout) reached the greeter: some time left, at most the 20 s given.
        var left = call.GetTrailers().GetValue(GreeterGrpcService.DeadlineTrailer);
        Assert.NotNull(left);
        Assert.InRange(long.Parse(left, System.Globalization.CultureInfo.InvariantCulture), 1, 20_000);
    }

    [Fact]
    public async Task ServerStreaming_LongerThanTheApiTimeout_KeepsStreamingWhileItSends()
    {
        var (api, consumer) = await fixture.PublishGreeterAsync();
        using var channel = GrpcFixture.Channel(fixture.Edge.GrpcUrl, api.Slug);
        var client = new GreeterService.GreeterServiceClient(channel);
        // 4 greetings 60% of the API's timeout apart: the whole stream lasts 1.8 × the timeout, but
        // the timeout is an idle timeout and the stream is never idle that long.
        var interval = GrpcFixture.ApiTimeoutMs * 6 / 10;

        using var call = client.SayHellos(new SayHellosRequest { Name = "Grace", Count = 4, IntervalMs = interval },
            GrpcFixture.Key(consumer.Key), deadline: DateTime.UtcNow.AddSeconds(20), cancellationToken: TestContext.Current.CancellationToken);
        var messages = new List<SayHellosResponse>();
        var started = System.Diagnostics.Stopwatch.StartNew();
        await foreach (var message in call.ResponseStream.ReadAllAsync(TestContext.Current.CancellationToken))
        {
            messages.Add(message);
        }

        Assert.Equal([1, 2, 3, 4], messages.Select(m => m.Index));
        Assert.Equal("Hello Grace #4", messages[^1].Message);
        Assert.True(started.ElapsedMilliseconds > GrpcFixture.ApiTimeoutMs, $"the stream outlived the API's timeout ({started.ElapsedMilliseconds} ms)");
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.NotNull(call.GetTrailers().GetValue(GreeterGrpcService.DeadlineTrailer));
    }

    [Fact]
    public async Task BidirectionalStreaming_EachReplyBeforeTheNextRequest_NothingBuffered()
    {
        var (api, consumer) = await fixture.PublishGreeterAsync();
        using var channel = GrpcFixture.Channel(fixture.Edge.GrpcUrl, api.Slug);
        var client = new GreeterService.GreeterServiceClient(channel);
        var ct = TestContext.Current.CancellationToken;

        using var call = client.Chat(GrpcFixture.Key(consumer.Key), deadline: DateTime.UtcNow.AddSeconds(20), cancellationToken: ct);
        // Lock step: the next name is sent only once the greeting for the last one came back, so an
        // edge that held either direction back (until the request ends, or the response) would stall.
        foreach (var name in new[] { "Ada", "Grace", "Barbara" })
        {
            await call.RequestStream.WriteAsync(new ChatRequest { Name = name }, ct);
            Assert.True(await call.ResponseStream.MoveNext(ct).WaitAsync(Bound, ct), $"a greeting for {name}");
            Assert.Equal("Hello " + name, call.ResponseStream.Current.Message);
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(ct).WaitAsync(Bound, ct));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.NotNull(call.GetTrailers().GetValue(GreeterGrpcService.DeadlineTrailer));
    }

    [Fact]
    public async Task Deadline_ShorterThanTheGreetersDelay_DeadlineExceeded()
    {
        var (api, consumer) = await fixture.PublishGreeterAsync();
        using var channel = GrpcFixture.Channel(fixture.Edge.GrpcUrl, api.Slug);
        var client = new GreeterService.GreeterServiceClient(channel);

        var started = System.Diagnostics.Stopwatch.StartNew();
        await Expect.StatusAsync(StatusCode.DeadlineExceeded, () => client.SayHelloAsync(
            new SayHelloRequest { Name = "late", DelayMs = 10_000 }, GrpcFixture.Key(consumer.Key),
            deadline: DateTime.UtcNow.AddMilliseconds(300), cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"the deadline ended the call ({started.ElapsedMilliseconds} ms)");
    }

    [Fact]
    public async Task UpstreamSilentLongerThanTheApiTimeout_EdgeAnswersDeadlineExceeded()
    {
        var (api, consumer) = await fixture.PublishGreeterAsync();
        using var channel = GrpcFixture.Channel(fixture.Edge.GrpcUrl, api.Slug);
        var client = new GreeterService.GreeterServiceClient(channel);

        // The caller allows 20 s; the API's 1.5 s idle timeout ends the call at the edge (504 → 4).
        var error = await Expect.StatusAsync(StatusCode.DeadlineExceeded, () => client.SayHelloAsync(
            new SayHelloRequest { Name = "slow", DelayMs = 10_000 }, GrpcFixture.Key(consumer.Key),
            deadline: DateTime.UtcNow.AddSeconds(20), cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
        Assert.Equal("The API's upstream did not answer within its timeout.", error.Status.Detail);
    }

    [Fact]
    public async Task EdgeRefusals_AreGrpcStatuses_NotProblemJson()
    {
        var (api, consumer) = await fixture.PublishGreeterAsync();
        var unsubscribed = await fixture.Fleet.ConsumerAsync(planId: null);
        using var channel = GrpcFixture.Channel(fixture.Edge.GrpcUrl, api.Slug);
        var client = new GreeterService.GreeterServiceClient(channel);
        var ct = TestContext.Current.CancellationToken;
        Task Call(string? key) => client.SayHelloAsync(new SayHelloRequest(), GrpcFixture.Key(key),
            deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct).ResponseAsync;

        var missing = await Expect.StatusAsync(StatusCode.Unauthenticated, () => Call(null));
        Assert.StartsWith("An API key is required", missing.Status.Detail);
        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Call("veil_not-a-real-key"));
        var denied = await Expect.StatusAsync(StatusCode.PermissionDenied, () => Call(unsubscribed.Key));
        Assert.Equal("The API key's account has no active subscription to this API.", denied.Status.Detail);
        // No route: the edge's 404 as UNIMPLEMENTED.
        using var nowhere = GrpcFixture.Channel(fixture.Edge.GrpcUrl, "no-such-api");
        await Expect.StatusAsync(StatusCode.Unimplemented, () => new GreeterService.GreeterServiceClient(nowhere)
            .SayHelloAsync(new SayHelloRequest(), GrpcFixture.Key(consumer.Key), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct).ResponseAsync);

        // On the wire: a trailers-only answer (HTTP 200, grpc-status in the headers, no body).
        using var http = new HttpClient { Timeout = Bound };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(fixture.Edge.GrpcUrl, $"{api.Slug}/veil.samples.greeter.v1.GreeterService/SayHello"))
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var response = await http.SendAsync(request, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new Version(2, 0), response.Version);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("16", Assert.Single(response.Headers.GetValues("grpc-status")));
        Assert.Contains("%E2%80%A6", Assert.Single(response.Headers.GetValues("grpc-message")), StringComparison.Ordinal);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(ct));
    }

    [Fact]
    public async Task Metering_OneEventPerCall_StreamingIncluded_WithTheStatusTheEdgeDecided()
    {
        var (api, consumer) = await fixture.PublishGreeterAsync();
        using var channel = GrpcFixture.Channel(fixture.Edge.GrpcUrl, api.Slug);
        var client = new GreeterService.GreeterServiceClient(channel);
        var ct = TestContext.Current.CancellationToken;
        var deadline = () => DateTime.UtcNow.AddSeconds(20);
        // The warm-up call that PublishGreeterAsync made is this API's first event.
        await Eventually.HoldsAsync(() => Task.FromResult(Recorded(api).Count >= 1), Bound, "the warm-up call is recorded");

        for (var i = 0; i < 3; i++)
        {
            await client.SayHelloAsync(new SayHelloRequest { Name = "n" + i }, GrpcFixture.Key(consumer.Key), deadline: deadline(), cancellationToken: ct);
        }
        using (var stream = client.SayHellos(new SayHellosRequest { Count = 5 }, GrpcFixture.Key(consumer.Key), deadline: deadline(), cancellationToken: ct))
        {
            Assert.Equal(5, (await stream.ResponseStream.ReadAllAsync(ct).ToListAsync(ct)).Count);
        }
        await Expect.StatusAsync(StatusCode.Unauthenticated, () =>
            client.SayHelloAsync(new SayHelloRequest(), GrpcFixture.Key(null), deadline: deadline(), cancellationToken: ct).ResponseAsync);

        // 1 warm-up + 3 unary + 1 stream answered 200; the refused call is recorded as the 401 the edge decided.
        await Eventually.HoldsAsync(() => Task.FromResult(Recorded(api).Count >= 6), Bound, "every call is recorded");
        Assert.Equal([200, 200, 200, 200, 200, 401], Recorded(api));
        // Usage counts the subscription's 5 calls once each (the keyless call has no subscription).
        await Eventually.HoldsAsync(async () => (await fixture.Fleet.CycleCountsAsync(consumer.SubscriptionId!)).Total >= 5,
            Bound, "usage counts the calls");
        Assert.Equal((5L, 5L), await fixture.Fleet.CycleCountsAsync(consumer.SubscriptionId!));
    }

    [Fact]
    public async Task Http1Api_OverHttp11AndOverPriorKnowledgeHttp2_BothAnswer()
    {
        var api = await fixture.Fleet.PublishApiAsync();
        var consumer = await fixture.Fleet.ConsumerAsync(api.PlanId);
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, consumer.Key, Bound);
        var ct = TestContext.Current.CancellationToken;

        foreach (var (edge, version) in new[] { (fixture.Edge.HttpUrl, HttpVersion.Version11), (fixture.Edge.GrpcUrl, HttpVersion.Version20) })
        {
            using var http = new HttpClient { BaseAddress = edge, Timeout = Bound };
            using var request = UsageFixture.Get(api.Slug, consumer.Key);
            request.Version = version;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            using var response = await http.SendAsync(request, ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{edge} HTTP/{version}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)} {response.Headers}");
            Assert.Equal(version, response.Version);
            // The echo upstream answers JSON describing what it got: the edge forwarded it.
            Assert.Contains("\"path\"", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }
    }

    private List<int> Recorded(PublishedApi api) => [.. fixture.Recorded.Where(r => r.ApiId == api.ApiId).Select(r => r.Status)];
}
