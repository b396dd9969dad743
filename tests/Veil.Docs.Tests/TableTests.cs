using System.Text.RegularExpressions;

namespace Veil.Docs.Tests;

/// <summary>Tables render as tables: a paragraph dropped into a table splits it, and the rows after it show as text.</summary>
public sealed partial class TableTests
{
    [Fact]
    public void Tables_StartWithAHeaderAndDelimiterRow()
    {
        var broken = new List<string>();
        foreach (var doc in Docs.All)
        {
            for (var i = 0; i < doc.Lines.Count; i++)
            {
                var line = doc.Lines[i];
                var startsTable = !line.InFence && line.Text.StartsWith('|') && (i == 0 || !doc.Lines[i - 1].Text.TrimStart().StartsWith('|'));
                if (startsTable && (i + 1 >= doc.Lines.Count || !DelimiterRowRegex().IsMatch(doc.Lines[i + 1].Text)))
                {
                    broken.Add($"{doc.Path}:{line.Number}: a table row with no header and delimiter row above it (is the table split?): {line.Text[..Math.Min(60, line.Text.Length)]}");
                }
            }
        }
        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }

    [GeneratedRegex(@"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")]
    private static partial Regex DelimiterRowRegex();
}
