using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Veil.Testing;

namespace Veil.Docs.Tests;

/// <summary>The documents under check: README.md and every Markdown file under docs/.</summary>
internal static class Docs
{
    public static string Root => RepositoryRoot.Path;

    public static IReadOnlyList<MarkdownFile> All { get; } = Load();

    /// <summary>A path relative to the repository root, with forward slashes (as messages and links show it).</summary>
    public static string Relative(string fullPath) => Path.GetRelativePath(Root, fullPath).Replace('\\', '/');

    private static List<MarkdownFile> Load()
    {
        var files = new List<string> { Path.Combine(Root, "README.md") };
        files.AddRange(Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        return files.Select(MarkdownFile.Read).ToList();
    }
}

/// <summary>One line of a Markdown file: its 1-based number, its text, and whether it sits in a fenced code block.</summary>
internal sealed record MarkdownLine(int Number, string Text, bool InFence);

/// <summary>
/// Just enough CommonMark to check a document: fenced code blocks, ATX headings and their GitHub
/// anchors, inline code spans, and the targets of links.
/// </summary>
internal sealed partial class MarkdownFile
{
    private MarkdownFile(string fullPath, IReadOnlyList<MarkdownLine> lines)
    {
        FullPath = fullPath;
        Lines = lines;
        Anchors = ComputeAnchors(lines);
    }

    public string FullPath { get; }

    public string Path => Docs.Relative(FullPath);

    public IReadOnlyList<MarkdownLine> Lines { get; }

    /// <summary>The fragment ids a link may target: heading slugs (GitHub rules) and explicit HTML anchors.</summary>
    public IReadOnlySet<string> Anchors { get; }

    public static MarkdownFile Read(string fullPath)
    {
        var lines = new List<MarkdownLine>();
        string? fence = null;
        var number = 0;
        foreach (var text in File.ReadAllLines(fullPath))
        {
            number++;
            var opener = FenceRegex().Match(text);
            if (fence is null && opener.Success)
            {
                fence = opener.Groups[1].Value;
                lines.Add(new MarkdownLine(number, text, true));
                continue;
            }
            if (fence is not null)
            {
                // A fence closes with at least as many of the same character and nothing after them.
                if (opener.Success && opener.Groups[1].Value[0] == fence[0] && opener.Groups[1].Value.Length >= fence.Length
                    && string.IsNullOrWhiteSpace(text[opener.Length..]))
                {
                    fence = null;
                }
                lines.Add(new MarkdownLine(number, text, true));
                continue;
            }
            lines.Add(new MarkdownLine(number, text, false));
        }
        return new MarkdownFile(fullPath, lines);
    }

    /// <summary>The text of a prose line with its code spans blanked out (same length, so columns still match).</summary>
    public static string WithoutCode(string text) =>
        CodeSpanRegex().Replace(text, m => new string(' ', m.Length));

    /// <summary>The contents of a prose line's inline code spans.</summary>
    public static IEnumerable<string> CodeSpans(string text) =>
        CodeSpanRegex().Matches(text).Select(m => m.Groups[2].Value);

    /// <summary>Every link target outside code, with its line: inline links, images and reference definitions.</summary>
    public IEnumerable<(MarkdownLine Line, string Target)> LinkTargets()
    {
        foreach (var line in Lines.Where(l => !l.InFence))
        {
            var prose = WithoutCode(line.Text);
            foreach (Match m in InlineLinkRegex().Matches(prose))
            {
                yield return (line, m.Groups[1].Value);
            }
            var definition = ReferenceDefinitionRegex().Match(prose);
            if (definition.Success)
            {
                yield return (line, definition.Groups[1].Value);
            }
        }
    }

    /// <summary>
    /// GitHub's heading anchor: the heading's text as rendered (no markup), lower-cased, with every
    /// character that is not a letter, mark, digit, connector punctuation, space or hyphen removed,
    /// and spaces turned into hyphens (github-slugger). Duplicates get <c>-1</c>, <c>-2</c>, … in
    /// document order; that part is done by <see cref="ComputeAnchors"/>.
    /// </summary>
    public static string Slug(string heading)
    {
        var text = HeadingLinkRegex().Replace(heading, "$1"); // [text](url) renders as text
        text = HtmlTagRegex().Replace(text, "");
        var slug = new StringBuilder(text.Length);
        foreach (var c in text.Trim().ToLowerInvariant())
        {
            var category = char.GetUnicodeCategory(c);
            if (c == ' ')
            {
                slug.Append('-');
            }
            else if (c == '-' || char.IsLetterOrDigit(c) || category is UnicodeCategory.ConnectorPunctuation
                     or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark)
            {
                slug.Append(c);
            }
        }
        return slug.ToString();
    }

    private static HashSet<string> ComputeAnchors(IReadOnlyList<MarkdownLine> lines)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in lines.Where(l => !l.InFence))
        {
            var heading = HeadingRegex().Match(line.Text);
            if (heading.Success)
            {
                var slug = Slug(heading.Groups[1].Value);
                var count = seen.GetValueOrDefault(slug);
                seen[slug] = count + 1;
                anchors.Add(count == 0 ? slug : $"{slug}-{count}");
            }
            foreach (Match html in HtmlAnchorRegex().Matches(line.Text))
            {
                anchors.Add(html.Groups[1].Value);
            }
        }
        return anchors;
    }

    [GeneratedRegex(@"^ {0,3}(`{3,}|~{3,})")]
    private static partial Regex FenceRegex();

    [GeneratedRegex(@"(`+)(.+?)\1")]
    private static partial Regex CodeSpanRegex();

    // Only the "](target)" half: link text may wrap onto the previous line.
    [GeneratedRegex(@"\]\(\s*<?([^)\s>]*)>?(?:\s+""[^""]*"")?\s*\)")]
    private static partial Regex InlineLinkRegex();

    [GeneratedRegex(@"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")]
    private static partial Regex ReferenceDefinitionRegex();

    [GeneratedRegex(@"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")]
    private static partial Regex HeadingRegex();

    [GeneratedRegex(@"!?\[([^\]]*)\]\([^)]*\)")]
    private static partial Regex HeadingLinkRegex();

    [GeneratedRegex(@"<[^>]+>")]
    private static partial Regex HtmlTagRegex();

    [GeneratedRegex(@"<a\s+(?:name|id)=""([^""]+)""", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlAnchorRegex();
}
