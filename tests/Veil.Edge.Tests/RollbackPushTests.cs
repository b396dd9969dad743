using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// A rollback reaches every edge within 1 s (issue: "every edge serves it within 1 s"), measured
/// through two real edges (<see cref="EdgeFixture.Edge"/> and <see cref="EdgeFixture.LongCacheEdge"/>):
/// the clock starts when the rollback REST call has answered and stops at each edge's first call
/// that reaches the restored upstream. Then GetApi shows every live edge serving the current version.
/// </summary>
[Collection(nameof(AuthChangePushTests))]
public sealed class RollbackPushTests(EdgeFixture fleet)
{
    private const int Repetitions = 10;
    private static readonly TimeSpan Goal = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Rollback_TwoEdges_BothCallTheRestoredUpstreamWithin1sAtP99_AndReportTheCurrentVersion()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var before = await HealthTarget.StartAsync("before");
        await using var after = await HealthTarget.StartAsync("after");
        var api = await fleet.PublishApiAsync(before.Url, edges: [fleet.Edge, fleet.LongCacheEdge]);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var management = fleet.Edge.CreateRestClient();
        management.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", api.Provider.Token);
        using var patched = await management.PatchAsJsonAsync($"v1/apis/{api.ApiId}", new { upstreamUrl = after.Url.ToString() }, ct);
        Assert.True(patched.IsSuccessStatusCode, await patched.Content.ReadAsStringAsync(ct));
        using var first = fleet.Edge.CreateRestClient();
        using var second = fleet.LongCacheEdge.CreateRestClient();
        var since = Stopwatch.StartNew();
        await Task.WhenAll(UntilAsync(first, api.Slug, consumer.Key, "after", since, ct), UntilAsync(second, api.Slug, consumer.Key, "after", since, ct));
        var latencies = new List<TimeSpan>();

        // Versions 1 (before) and 2 (after); each rollback makes the other one current again.
        for (var i = 0; i < Repetitions; i++)
        {
            var (version, expected) = i % 2 == 0 ? (1, "before") : (2, "after");
            await EdgeFixture.PostAsync(management, $"v1/apis/{api.ApiId}:rollback", null, new { version }, ct);
            var answered = Stopwatch.StartNew();
            latencies.AddRange(await Task.WhenAll(
                UntilAsync(first, api.Slug, consumer.Key, expected, answered, ct),
                UntilAsync(second, api.Slug, consumer.Key, expected, answered, ct)));
        }

        latencies.Sort();
        var p99 = latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1];
        var summary = $"rollback → first call to the restored upstream over {latencies.Count} (edge, rollback) pairs: " +
            $"p50 {latencies[latencies.Count / 2].TotalMilliseconds:F1} ms, p99 {p99.TotalMilliseconds:F1} ms, max {latencies[^1].TotalMilliseconds:F1} ms";
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        TestContext.Current.SendDiagnosticMessage(summary);
        Assert.True(p99 <= Goal, summary);

        // What runs where: every live edge reports the current version (1 + 1 + 10 rollbacks = 12).
        await Eventually.HoldsAsync(async () =>
        {
            var read = JsonNode.Parse(await management.GetStringAsync($"v1/apis/{api.ApiId}", ct))!;
            var edges = read["deployment"]?["edges"]?.AsArray() ?? [];
            return read["deployment"]?["inSync"]?.GetValue<bool>() == true && edges.Count > 0
                && edges.All(e => e!["servedVersion"]!.ToJsonString().Trim('"') == "12");
        }, Bound, "GET /v1/apis/{id} shows every live edge serving version 12");
    }

    /// <summary>Calls the edge back to back until the answer comes from <paramref name="upstream"/>; the time on <paramref name="since"/> then.</summary>
    private static async Task<TimeSpan> UntilAsync(HttpClient http, string slug, string key, string upstream, Stopwatch since, CancellationToken ct)
    {
        while (since.Elapsed < Bound)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{slug}/echo");
            request.Headers.TryAddWithoutValidation("X-Api-Key", key);
            using var response = await http.SendAsync(request, ct);
            if (response.IsSuccessStatusCode && await response.Content.ReadAsStringAsync(ct) == upstream)
            {
                return since.Elapsed;
            }
        }
        throw new TimeoutException($"The edge did not reach the '{upstream}' upstream within {Bound}.");
    }
}
