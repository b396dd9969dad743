namespace Veil.Docs.Tests;

/// <summary>Every relative link in README.md and docs/ leads somewhere: a file or folder of the repository, and a heading that exists.</summary>
public sealed class LinkTests
{
    [Fact]
    public void RelativeLinks_ResolveToFilesInTheRepository()
    {
        var broken = new List<string>();
        foreach (var doc in Docs.All)
        {
            foreach (var (line, target) in doc.LinkTargets())
            {
                if (IsExternal(target) || target.StartsWith('#'))
                {
                    continue;
                }
                var path = Uri.UnescapeDataString(target.Split('#')[0]);
                var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(doc.FullPath)!, path));
                if (!full.StartsWith(Docs.Root + Path.DirectorySeparatorChar, StringComparison.Ordinal) && full != Docs.Root)
                {
                    broken.Add($"{doc.Path}:{line.Number}: link '{target}' points outside the repository");
                }
                else if (!File.Exists(full) && !Directory.Exists(full))
                {
                    broken.Add($"{doc.Path}:{line.Number}: link '{target}': {Docs.Relative(full)} does not exist");
                }
            }
        }
        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }

    [Fact]
    public void RelativePathsInCode_StayInTheRepository()
    {
        // A path written as code (`../../shared/style.md`) is a link a reader follows by hand: it
        // must not lead out of the repository either, where a clone has nothing.
        var broken = new List<string>();
        foreach (var doc in Docs.All)
        {
            foreach (var line in doc.Lines.Where(l => !l.InFence))
            {
                foreach (var span in MarkdownFile.CodeSpans(line.Text).Where(c => c.StartsWith("../", StringComparison.Ordinal) && !c.Contains(' ', StringComparison.Ordinal)))
                {
                    var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(doc.FullPath)!, span));
                    if (!full.StartsWith(Docs.Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    {
                        broken.Add($"{doc.Path}:{line.Number}: `{span}` points outside the repository");
                    }
                }
            }
        }
        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }

    [Fact]
    public void Anchors_NameAHeadingOfTheTargetDocument()
    {
        var byPath = Docs.All.ToDictionary(d => d.FullPath, StringComparer.Ordinal);
        var broken = new List<string>();
        foreach (var doc in Docs.All)
        {
            foreach (var (line, target) in doc.LinkTargets())
            {
                var hash = target.IndexOf('#', StringComparison.Ordinal);
                if (IsExternal(target) || hash < 0)
                {
                    continue;
                }
                var file = target[..hash];
                var anchor = Uri.UnescapeDataString(target[(hash + 1)..]);
                var full = file.Length == 0 ? doc.FullPath : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(doc.FullPath)!, Uri.UnescapeDataString(file)));
                if (!full.EndsWith(".md", StringComparison.Ordinal))
                {
                    continue; // a fragment of a non-Markdown file (a line of code on GitHub) is not a heading
                }
                var targetDoc = byPath.GetValueOrDefault(full) ?? (File.Exists(full) ? MarkdownFile.Read(full) : null);
                if (targetDoc is null)
                {
                    continue; // reported by RelativeLinks_ResolveToFilesInTheRepository
                }
                if (!targetDoc.Anchors.Contains(anchor))
                {
                    var near = targetDoc.Anchors.Where(a => a.Contains(anchor, StringComparison.Ordinal) || anchor.Contains(a, StringComparison.Ordinal)).Take(3).ToList();
                    broken.Add($"{doc.Path}:{line.Number}: link '{target}': {targetDoc.Path} has no heading with anchor #{anchor}"
                        + (near.Count > 0 ? $" (did you mean {string.Join(", ", near.Select(a => "#" + a))}?)" : ""));
                }
            }
        }
        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }

    [Theory]
    [InlineData("Configuration", "configuration")]
    [InlineData("Configuration (`Edge:RateLimiting`)", "configuration-edgeratelimiting")]
    [InlineData("Secrets at rest", "secrets-at-rest")]
    [InlineData("The request path (data plane)", "the-request-path-data-plane")]
    [InlineData("What `ValidateApiKey` answers, and why", "what-validateapikey-answers-and-why")]
    [InlineData("Keys: rotate & revoke — 2 ways", "keys-rotate--revoke--2-ways")]
    [InlineData("See [edge](edge.md) first", "see-edge-first")]
    [InlineData("snake_case stays", "snake_case-stays")]
    public void Slug_FollowsGitHubRules(string heading, string anchor) =>
        Assert.Equal(anchor, MarkdownFile.Slug(heading));

    [Fact]
    public void Anchors_NumberRepeatedHeadings()
    {
        var path = Path.Combine(Path.GetTempPath(), $"veil-docs-{Guid.NewGuid():N}.md");
        File.WriteAllLines(path, ["# Title", "## Configuration", "```", "## Not a heading", "```", "## Configuration", "<a id=\"custom\"></a>"]);
        try
        {
            var doc = MarkdownFile.Read(path);
            Assert.Equal(["configuration", "configuration-1", "custom", "title"], doc.Anchors.Order(StringComparer.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void LinkTargets_SkipCodeAndFindWrappedLinks()
    {
        var path = Path.Combine(Path.GetTempPath(), $"veil-docs-{Guid.NewGuid():N}.md");
        File.WriteAllLines(path, ["see [the", "edge](edge.md#failure) and `[not](a-link.md)`", "```", "[also not](x.md)", "```", "[ref]: designs/x.md"]);
        try
        {
            var targets = MarkdownFile.Read(path).LinkTargets().Select(t => (t.Line.Number, t.Target)).ToList();
            Assert.Equal([(2, "edge.md#failure"), (6, "designs/x.md")], targets);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static bool IsExternal(string target) =>
        target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase);
}
