using System.Text.RegularExpressions;

namespace Veil.Docs.Tests;

/// <summary>The pages a newcomer reads first show the whole fleet: every service, every step of an API call, every OpenAPI document.</summary>
public sealed partial class OverviewTests
{
    /// <summary>The steps of an API call through the edge, as the diagrams name them (see MapEdge).</summary>
    private static readonly string[] RequestPath = ["key check", "entitlement", "limit", "quota", "transforms", "upstream", "metering"];

    [Theory]
    [InlineData("README.md")]
    [InlineData("docs/architecture.md")]
    public void Diagram_ShowsEveryServiceAndTheWholeRequestPath(string path)
    {
        var doc = Docs.All.Single(d => d.Path == path);
        var diagram = Diagram(doc);
        var missing = Fleet.Services.Where(s => !diagram.Text.Contains(s, StringComparison.Ordinal))
            .Concat(RequestPath.Where(step => !diagram.Text.Contains(step, StringComparison.Ordinal)))
            .ToList();
        Assert.True(missing.Count == 0, $"{path}:{diagram.Line}: the diagram does not show {string.Join(", ", missing)}");
    }

    [Fact]
    public void Readme_ListsEveryOpenApiDocumentTheEdgeServes()
    {
        var readme = File.ReadAllText(Path.Combine(Docs.Root, "README.md"));
        var served = OpenApiPaths();
        Assert.NotEmpty(served);
        var missing = served.Where(p => !readme.Contains(p, StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, $"README.md: the OpenAPI documents the edge serves include {string.Join(", ", missing)}, which the README does not list");
    }

    [Fact]
    public void OpenApiPaths_TheDocsNameAreServed()
    {
        var served = OpenApiPaths();
        var broken = new List<string>();
        foreach (var doc in Docs.All)
        {
            foreach (var line in doc.Lines)
            {
                foreach (Match m in OpenApiRegex().Matches(line.Text))
                {
                    // /openapi/v1.json is each service's own document, on its HTTP port.
                    if (m.Value != "/openapi/v1.json" && !served.Contains(m.Value))
                    {
                        broken.Add($"{doc.Path}:{line.Number}: {m.Value} is not served by the edge ({string.Join(", ", served)})");
                    }
                }
            }
        }
        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }

    [Fact]
    public void EdgeDoc_ListsEveryManagementRoute()
    {
        var edge = Docs.All.Single(d => d.Path == "docs/edge.md");
        var text = string.Join('\n', edge.Lines.Select(l => l.Text));
        var missing = Fleet.ManagementRoutes
            .Select(r => r.Match.Path ?? "")
            .Select(p => p.Replace("/{**rest}", "/**", StringComparison.Ordinal))
            .Where(p => !text.Contains(p, StringComparison.Ordinal))
            .ToList();
        Assert.True(missing.Count == 0, $"docs/edge.md: the edge routes {string.Join(", ", missing)}, which its routing table does not list");
    }

    /// <summary>The first fenced block of a document: its diagram.</summary>
    private static (int Line, string Text) Diagram(MarkdownFile doc)
    {
        var block = doc.Lines.SkipWhile(l => !l.InFence).TakeWhile(l => l.InFence).ToList();
        Assert.True(block.Count > 0, $"{doc.Path} has no diagram (a fenced block)");
        return (block[0].Number, string.Join('\n', block.Select(l => l.Text)));
    }

    /// <summary>The documents the edge serves: each service's (a management route) and its own merged one.</summary>
    private static List<string> OpenApiPaths() =>
        [.. Fleet.ManagementRoutes.Select(r => r.Match.Path ?? "").Where(p => p.StartsWith("/openapi/", StringComparison.Ordinal)), Fleet.EdgeOpenApiDocument];

    [GeneratedRegex(@"/openapi/[\w.-]+\.json")]
    private static partial Regex OpenApiRegex();
}
