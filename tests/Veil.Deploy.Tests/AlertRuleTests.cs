using System.Diagnostics;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace Veil.Deploy.Tests;

/// <summary>
/// deploy/observability: the plain Prometheus rule file is valid (<c>promtool check rules</c>), its unit
/// tests pass (<c>promtool test rules</c>), every alert has a test that fires it and one that keeps it
/// quiet, and the Kubernetes PrometheusRule carries exactly the same groups. promtool is the Debian
/// package <c>prometheus</c>, which .ci/run installs when it is missing; without it these tests fail.
/// </summary>
public sealed class AlertRuleTests
{
    private static string PrometheusDirectory => Path.Combine(Repo.Root, "deploy", "observability", "prometheus");
    private static string RuleFile => Path.Combine(PrometheusDirectory, "veil-rules.yaml");

    private static IEnumerable<string> TestFiles =>
        Directory.EnumerateFiles(Path.Combine(PrometheusDirectory, "tests"), "*.yaml").Order();

    [Fact]
    public async Task Promtool_CheckRules_Succeeds()
    {
        var (code, output) = await PromtoolAsync("check", "rules", RuleFile);
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task Promtool_TestRules_AllPass()
    {
        var (code, output) = await PromtoolAsync(["test", "rules", .. TestFiles]);
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryAlert_HasAFiringAndAQuietTest()
    {
        var alerts = Rules(Load(RuleFile)["groups"]).Select(r => r.Children.TryGetValue("alert", out var a) ? a.ToString() : null)
            .OfType<string>().ToHashSet();
        var firing = new HashSet<string>();
        var quiet = new HashSet<string>();
        foreach (var file in TestFiles)
        {
            foreach (YamlMappingNode test in (YamlSequenceNode)Load(file)["tests"])
            {
                if (!test.Children.TryGetValue("alert_rule_test", out var cases))
                {
                    continue;
                }
                foreach (YamlMappingNode c in (YamlSequenceNode)cases)
                {
                    var name = c["alertname"].ToString();
                    var expected = c.Children.TryGetValue("exp_alerts", out var e) ? ((YamlSequenceNode)e).Children.Count : 0;
                    (expected > 0 ? firing : quiet).Add(name);
                }
            }
        }

        Assert.NotEmpty(alerts);
        Assert.Empty(alerts.Except(firing).Order());
        Assert.Empty(alerts.Except(quiet).Order());
        Assert.Empty(firing.Union(quiet).Except(alerts).Order()); // no test of an alert that is gone
    }

    [Fact]
    public void PrometheusRule_HasTheSameGroupsAsThePlainRuleFile()
    {
        var rule = Load(Path.Combine(Repo.Root, "deploy", "observability", "kubernetes", "prometheusrule.yaml"));
        Assert.Equal("PrometheusRule", rule["kind"].ToString());
        Assert.Equal("monitoring.coreos.com/v1", rule["apiVersion"].ToString());

        Assert.Equal(Canonical(Load(RuleFile)["groups"]), Canonical(rule["spec"]["groups"]));
    }

    private static IEnumerable<YamlMappingNode> Rules(YamlNode groups) =>
        ((YamlSequenceNode)groups).Cast<YamlMappingNode>().SelectMany(g => ((YamlSequenceNode)g["rules"]).Cast<YamlMappingNode>());

    private static YamlMappingNode Load(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    /// <summary>A node as text with sorted keys: equal exactly when the rules are the same.</summary>
    private static string Canonical(YamlNode node) => node switch
    {
        YamlMappingNode map => "{" + string.Join(",", map.Children.OrderBy(c => c.Key.ToString(), StringComparer.Ordinal)
            .Select(c => Canonical(c.Key) + ":" + Canonical(c.Value))) + "}",
        YamlSequenceNode seq => "[" + string.Join(",", seq.Children.Select(Canonical)) + "]",
        YamlScalarNode scalar => System.Text.Json.JsonSerializer.Serialize(scalar.Value),
        _ => throw new InvalidOperationException($"unexpected YAML node {node.NodeType}"),
    };

    private static async Task<(int Code, string Output)> PromtoolAsync(params string[] args)
    {
        var start = new ProcessStartInfo("promtool") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = PrometheusDirectory };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("promtool did not start");
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var output = new StringBuilder().Append(await stdout).Append(await stderr).ToString();
        return (process.ExitCode, $"promtool {string.Join(' ', args)} exited {process.ExitCode}:\n{output}");
    }
}
