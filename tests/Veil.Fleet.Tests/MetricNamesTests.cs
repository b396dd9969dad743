using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Veil.Testing;
using YamlDotNet.RepresentationModel;

namespace Veil.Fleet.Tests;

/// <summary>
/// Every metric and label name the Grafana dashboards (deploy/observability/grafana) and the alert
/// rules (deploy/observability/prometheus/veil-rules.yaml) query is one the real processes export:
/// after the quickstart journey (so request histograms exist), each process's <c>/metrics</c> is
/// scraped and each query's names are looked up in the scrapes.
/// <para>
/// How names are read from PromQL (<see cref="Names"/>): string literals, range and offset brackets
/// (<c>[5m]</c>), Grafana variables (<c>$api</c>, <c>$__rate_interval</c>) and numbers are removed;
/// each selector's <c>{...}</c> yields label names (left of the matcher operator) checked against that
/// metric's samples; <c>by</c>/<c>without</c>/<c>on</c>/<c>ignoring</c>/<c>group_*</c> lists yield label
/// names checked against every label in the scrapes; what is left is identifiers, of which those
/// followed by <c>(</c> are functions or aggregations and PromQL keywords are dropped; the rest are
/// metric names. Names with a colon are recording rules and must be recorded by the rule file.
/// <c>up</c> (and <c>instance</c>, <c>job</c>) are Prometheus's own, added at scrape time.
/// </para>
/// </summary>
[Collection(FleetCollection.Name)]
public sealed partial class MetricNamesTests(FleetFixture fleet)
{
    private static readonly HashSet<string> PrometheusOwnMetrics = ["up"];
    private static readonly HashSet<string> PrometheusOwnLabels = ["instance", "job", "le", "quantile"];
    private static readonly HashSet<string> Keywords =
        ["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"];

    private static readonly string[] Processes = ["edge:management", "identity:http", "catalog:http", "subscriptions:http", "ratelimit:http", "usage:http", "billing:http"];

    [Fact]
    public async Task DashboardsAndRules_UseOnlyExportedMetricAndLabelNames()
    {
        var ct = TestContext.Current.CancellationToken;
        // Traffic first: API calls through the edge, metered, so every request histogram has samples.
        await new QuickstartJourneyTests(fleet).Quickstart_ProviderPublishesConsumerCalls_UpstreamAnswersThroughEdge();

        // Some series appear a moment after the calls (usage's rollup runs every second): scrape until
        // every name is there, for a bounded time, then report what is still missing.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        List<string> problems = [];
        try
        {
            await Eventually.HoldsAsync(async () => (problems = await ProblemsAsync(http, ct)).Count == 0,
                TimeSpan.FromSeconds(30), "every name the dashboards and rules use is exported");
        }
        catch (TimeoutException)
        {
            // Reported below, name by name.
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems.Distinct()));
    }

    /// <summary>Scrapes every process once and lists each name used but not exported.</summary>
    private async Task<List<string>> ProblemsAsync(HttpClient http, CancellationToken ct)
    {
        var samples = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal); // metric -> label names
        foreach (var process in Processes)
        {
            var text = await http.GetStringAsync($"http://localhost:{fleet.Ports[process]}/metrics", ct);
            if (Environment.GetEnvironmentVariable("VEIL_METRICS_DUMP") is { Length: > 0 } dump)
            {
                Directory.CreateDirectory(dump);
                await File.WriteAllTextAsync(Path.Combine(dump, process.Replace(':', '-') + ".txt"), text, ct);
            }
            foreach (Match m in SampleLine().Matches(text))
            {
                var labels = samples.TryGetValue(m.Groups["name"].Value, out var set) ? set : samples[m.Groups["name"].Value] = [];
                foreach (Match l in LabelName().Matches(m.Groups["labels"].Value))
                {
                    labels.Add(l.Groups[1].Value);
                }
            }
        }
        var allLabels = samples.Values.SelectMany(l => l).Concat(PrometheusOwnLabels).ToHashSet();

        var (queries, recorded) = Queries();
        Assert.NotEmpty(queries);
        var problems = new List<string>();
        foreach (var (source, expr) in queries)
        {
            var (metrics, selectorLabels, groupingLabels) = Names(expr);
            foreach (var metric in metrics)
            {
                if (metric.Contains(':', StringComparison.Ordinal) ? !recorded.Contains(metric)
                    : !samples.ContainsKey(metric) && !PrometheusOwnMetrics.Contains(metric))
                {
                    problems.Add($"{source}: metric {metric} is not exported");
                }
            }
            foreach (var (metric, label) in selectorLabels)
            {
                if (samples.TryGetValue(metric, out var labels) && !labels.Contains(label) && !PrometheusOwnLabels.Contains(label))
                {
                    problems.Add($"{source}: {metric} has no label {label}");
                }
            }
            problems.AddRange(groupingLabels.Where(l => !allLabels.Contains(l)).Select(l => $"{source}: no metric has label {l}"));
        }
        return problems;
    }

    [Fact]
    public void Names_ReadsMetricsAndLabelsFromPromQL()
    {
        var (metrics, selectorLabels, grouping) = Names(
            """histogram_quantile(0.99, sum by (veil_api_id, le) (rate(http_server_request_duration_seconds_bucket{veil_api_id=~"$api",veil_outcome!="x"}[$__rate_interval]))) > 0.2 and on(instance) up offset 5m""");

        Assert.Equal(["http_server_request_duration_seconds_bucket", "up"], metrics.Order());
        Assert.Equal([("http_server_request_duration_seconds_bucket", "veil_api_id"), ("http_server_request_duration_seconds_bucket", "veil_outcome")], selectorLabels);
        Assert.Equal(["instance", "le", "veil_api_id"], grouping.Order());
    }

    /// <summary>Metric names, (metric, label) pairs of selectors, and grouping labels of one PromQL expression.</summary>
    internal static (HashSet<string> Metrics, List<(string Metric, string Label)> SelectorLabels, HashSet<string> Grouping) Names(string expr)
    {
        expr = Strings().Replace(expr, "\"\"");
        var selectorLabels = new List<(string, string)>();
        expr = Selector().Replace(expr, m =>
        {
            foreach (Match l in Matcher().Matches(m.Groups["labels"].Value))
            {
                selectorLabels.Add((m.Groups["metric"].Value, l.Groups[1].Value));
            }
            return m.Groups["metric"].Value + " ";
        });
        var grouping = new HashSet<string>();
        expr = Grouping().Replace(expr, m =>
        {
            foreach (var label in m.Groups["labels"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                grouping.Add(label);
            }
            return " ";
        });
        expr = Brackets().Replace(expr, " ");
        expr = Variables().Replace(expr, " ");
        var metrics = Identifiers().Matches(expr)
            .Where(m => !m.Groups["call"].Success && !Keywords.Contains(m.Groups["name"].Value.ToLowerInvariant()))
            .Select(m => m.Groups["name"].Value)
            .ToHashSet();
        return (metrics, selectorLabels, grouping);
    }

    /// <summary>Every PromQL expression in the dashboards and the rule file, and the names the rule file records.</summary>
    private static (List<(string Source, string Expr)> Queries, HashSet<string> Recorded) Queries()
    {
        var observability = Path.Combine(RepositoryRoot.Path, "deploy", "observability");
        var queries = new List<(string, string)>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(observability, "grafana"), "*.json"))
        {
            foreach (var expr in Exprs(JsonNode.Parse(File.ReadAllText(file))))
            {
                queries.Add((Path.GetFileName(file), expr));
            }
        }
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(observability, "prometheus", "veil-rules.yaml")))
        {
            stream.Load(reader);
        }
        var recorded = new HashSet<string>();
        foreach (YamlMappingNode group in (YamlSequenceNode)((YamlMappingNode)stream.Documents[0].RootNode)["groups"])
        {
            foreach (YamlMappingNode rule in (YamlSequenceNode)group["rules"])
            {
                var name = rule.Children.TryGetValue("record", out var r) ? r.ToString() : rule["alert"].ToString();
                if (rule.Children.ContainsKey("record"))
                {
                    recorded.Add(name);
                }
                queries.Add(("veil-rules.yaml " + name, rule["expr"].ToString()));
            }
        }
        return (queries, recorded);
    }

    private static IEnumerable<string> Exprs(JsonNode? node) => node switch
    {
        // A datasource variable's "query" is a plugin type, not PromQL.
        JsonObject o when o["type"]?.GetValueKind() == System.Text.Json.JsonValueKind.String && (string?)o["type"] == "datasource" && o["query"] is not null => [],
        JsonObject o => o.SelectMany(p => p.Key is "expr" or "query" && p.Value is JsonValue v && v.TryGetValue<string>(out var s)
            // A variable's label_values(metric, label) is Grafana's, not PromQL: checked as metric{label=""}.
            ? [LabelValues().Replace(s, "${metric}{${label}=\"\"}")]
            : Exprs(p.Value)),
        JsonArray a => a.SelectMany(Exprs),
        _ => [],
    };

    [GeneratedRegex("""label_values\((?<metric>[a-zA-Z_:][a-zA-Z0-9_:]*),\s*(?<label>[a-zA-Z_][a-zA-Z0-9_]*)\)""")]
    private static partial Regex LabelValues();

    // Label values may hold braces (http_route="/{**rest}"): the label block is read quote-aware.
    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>(?:[^}"]|"(?:[^"\\]|\\.)*")*)\})? """, RegexOptions.Multiline)]
    private static partial Regex SampleLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"")]
    private static partial Regex LabelName();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex Strings();

    [GeneratedRegex("""(?<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{(?<labels>[^}]*)\}""")]
    private static partial Regex Selector();

    [GeneratedRegex("""([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)""")]
    private static partial Regex Matcher();

    [GeneratedRegex("""\b(?:by|without|on|ignoring|group_left|group_right)\s*\((?<labels>[^)]*)\)""")]
    private static partial Regex Grouping();

    [GeneratedRegex("""\[[^\]]*\]""")]
    private static partial Regex Brackets();

    [GeneratedRegex("""\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?""")]
    private static partial Regex Variables();

    [GeneratedRegex("""(?<![a-zA-Z0-9_:.])(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<call>\s*\()?""")]
    private static partial Regex Identifiers();
}
