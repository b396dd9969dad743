using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Veil.ServiceDefaults.Security;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>What an SRE scrapes from the edge's <c>/metrics</c> after API calls.</summary>
public sealed class EdgeMetricsTests(EdgeFixture fleet) : IClassFixture<EdgeFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Metrics_ApiCalls_RequestDurationTaggedWithApiAndOutcome_CacheLookupsCounted()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = fleet.Edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;

        var apiTag = $"veil_api_id=\"{api.ApiId}\"";
        // Publishing polls the new route with a bad key until it is served: those 401s count too.
        var lines = (await http.GetStringAsync("/metrics", ct)).Split('\n');
        var unauthenticatedBefore = Count(lines, "http_server_request_duration_seconds_count", apiTag, "veil_outcome=\"unauthenticated\"");

        Assert.Equal(HttpStatusCode.OK, await CallAsync(http, api.Slug, consumer.Key, ct));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(http, api.Slug, consumer.Key, ct)); // warm: a cache hit
        Assert.Equal(HttpStatusCode.Unauthorized, await CallAsync(http, api.Slug, ApiKeyFormat.Generate(), ct));

        bool Recorded() =>
            Count(lines, "http_server_request_duration_seconds_count", apiTag, "veil_outcome=\"authorized\"") == 2 &&
            Count(lines, "http_server_request_duration_seconds_count", apiTag, "veil_outcome=\"unauthenticated\"") == unauthenticatedBefore + 1;
        // The framework records a request's duration once its response is complete: poll (bounded).
        for (var deadline = DateTime.UtcNow + Bound; ; await Task.Delay(100, ct))
        {
            lines = (await http.GetStringAsync("/metrics", ct)).Split('\n');
            if (Recorded() || DateTime.UtcNow > deadline)
            {
                break;
            }
        }
        Assert.True(Recorded(), "two authorized calls and one unauthenticated call of this API in http.server.request.duration:\n" +
            string.Join('\n', lines.Where(l => l.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal))));

        // Interlocked cells behind an observable counter, read through this edge's own meter (the
        // other edges in this process have theirs): counting this test's warm call. /metrics shows
        // one process's meter, which in production is this edge's.
        Assert.Contains(lines, l => l.StartsWith("veil_edge_auth_cache_lookups_total{", StringComparison.Ordinal));
        Assert.True(ObserveCacheLookups(fleet.Edge.Services.GetRequiredService<IMeterFactory>(), "api_key", "hit") >= 1);
        // Management routes carry no API tags.
        Assert.DoesNotContain(lines, l => l.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal) &&
            l.Contains("veil_api_id=\"\"", StringComparison.Ordinal));
    }

    private static long ObserveCacheLookups(IMeterFactory scope, string cache, string result)
    {
        long total = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "veil.edge.auth.cache.lookups" && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? c = null, r = null;
            foreach (var tag in tags)
            {
                (c, r) = tag.Key switch { "cache" => ((string?)tag.Value, r), "result" => (c, (string?)tag.Value), _ => (c, r) };
            }
            if (c == cache && r == result)
            {
                total += value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return total;
    }

    /// <summary>Sum of the samples of <paramref name="metric"/> whose labels contain every one of <paramref name="labels"/>.</summary>
    private static double Count(string[] lines, string metric, params string[] labels) => lines
        .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) && labels.All(label => l.Contains(label, StringComparison.Ordinal)))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    private static async Task<HttpStatusCode> CallAsync(HttpClient http, string slug, string key, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{slug}/echo");
        request.Headers.TryAddWithoutValidation("X-Api-Key", key);
        using var response = await http.SendAsync(request, ct);
        return response.StatusCode;
    }
}
