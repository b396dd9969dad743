using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Veil.Cli.Http;

namespace Veil.Cli;

/// <summary>
/// Everything the CLI prints: results on standard output as a table (default) or as the server's
/// JSON (<c>--output json</c>); errors and progress on standard error.
/// </summary>
public sealed class Output(CliContext context, bool json)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public bool Json { get; } = json;

    public TextWriter Out => context.Out;

    public TextWriter Error => context.Error;

    /// <summary>Prints <paramref name="node"/> as JSON (json mode) or runs <paramref name="table"/>.</summary>
    public void Write(JsonNode? node, Action table)
    {
        if (Json)
        {
            context.Out.WriteLine(node?.ToJsonString(Indented) ?? "{}");
        }
        else
        {
            table();
        }
    }

    /// <summary>Prints rows under their headers, each column as wide as its widest cell.</summary>
    public void Table(string[] headers, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        void Line(string[] cells) =>
            context.Out.WriteLine(string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
        Line(headers);
        foreach (var row in all)
        {
            Line(row);
        }
    }

    /// <summary>Prints label: value lines for one object.</summary>
    public void Fields(IEnumerable<(string Label, string? Value)> fields)
    {
        var list = fields.Where(f => !string.IsNullOrEmpty(f.Value)).ToList();
        var width = list.Count == 0 ? 0 : list.Max(f => f.Label.Length) + 1;
        foreach (var (label, value) in list)
        {
            context.Out.WriteLine($"{(label + ":").PadRight(width)} {value}");
        }
    }

    /// <summary>A progress line for long operations, on standard error, only when it is a terminal.</summary>
    public void Progress(string message)
    {
        if (context.ErrorIsTerminal)
        {
            context.Error.WriteLine(message);
        }
    }

    /// <summary>The server's problem: status, title and detail, then each field error as "field: message".</summary>
    public void Problem(VeilApiException e)
    {
        var headline = string.Join(": ", new[] { e.Title, e.Detail }.Where(s => !string.IsNullOrWhiteSpace(s)).Distinct());
        context.Error.WriteLine($"error: {e.Method} {e.RequestPath} → {e.Status}{(headline.Length > 0 ? " " + headline : "")}");
        foreach (var (field, message) in e.FieldErrors)
        {
            context.Error.WriteLine($"  {field}: {message}");
        }
    }

    public static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>(),
        JsonValue value => value.ToJsonString(),
        _ => node.ToJsonString(),
    };

    /// <summary>A protobuf JSON timestamp as "yyyy-MM-dd HH:mm:ssZ".</summary>
    public static string Time(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<DateTimeOffset>(out var time)
            ? time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : Text(node);

    /// <summary>An enum value without its prefix ("API_STATE_ACTIVE" and "ACTIVE" both read "active").</summary>
    public static string Enum(JsonNode? node, string prefix)
    {
        var text = Text(node);
        return (text.StartsWith(prefix, StringComparison.Ordinal) ? text[prefix.Length..] : text).ToLowerInvariant();
    }
}
