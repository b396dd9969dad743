using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Veil.Cli.Apply;

/// <summary>
/// veil.yaml is JSON in YAML clothes: this reads YAML into <see cref="JsonNode"/> (plain scalars
/// typed as YAML 1.2's core schema: null, booleans, integers, floats; quoted ones always strings),
/// replacing <c>${NAME}</c> in strings with environment variables, and writes JSON back as YAML.
/// </summary>
public static partial class YamlJson
{
    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex Integer();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();

    [GeneratedRegex(@"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Variable();

    /// <summary>Parses one YAML document; <paramref name="source"/> names it in errors.</summary>
    public static JsonNode? Read(string yaml, string source, Func<string, string?> environment)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new UsageException($"{source}:{e.Start.Line}:{e.Start.Column}: {e.InnerException?.Message ?? e.Message}");
        }
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode, source, environment);
    }

    private static JsonNode? Convert(YamlNode node, string source, Func<string, string?> environment)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                foreach (var (key, value) in mapping.Children)
                {
                    var name = (key as YamlScalarNode)?.Value ?? throw new UsageException($"{source}:{key.Start.Line}: keys must be plain strings.");
                    if (obj.ContainsKey(name))
                    {
                        throw new UsageException($"{source}:{key.Start.Line}: '{name}' appears twice.");
                    }
                    obj[name] = Convert(value, source, environment);
                }
                return obj;
            case YamlSequenceNode sequence:
                return new JsonArray(sequence.Children.Select(c => Convert(c, source, environment)).ToArray());
            case YamlScalarNode scalar:
                var text = scalar.Value ?? "";
                if (scalar.Style is ScalarStyle.Plain)
                {
                    if (text is "" or "~" or "null" or "Null" or "NULL")
                    {
                        return null;
                    }
                    if (text is "true" or "True" or "TRUE")
                    {
                        return JsonValue.Create(true);
                    }
                    if (text is "false" or "False" or "FALSE")
                    {
                        return JsonValue.Create(false);
                    }
                    if (Integer().IsMatch(text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                    {
                        return JsonValue.Create(integer);
                    }
                    if (Float().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                    {
                        return JsonValue.Create(number);
                    }
                }
                return JsonValue.Create(Substitute(text, $"{source}:{scalar.Start.Line}", environment));
            default:
                throw new UsageException($"{source}:{node.Start.Line}: aliases and tags are not supported.");
        }
    }

    /// <summary>Replaces <c>${NAME}</c> with the variable's value (unset: an error); <c>$${</c> writes a literal <c>${</c>.</summary>
    public static string Substitute(string text, string where, Func<string, string?> environment) =>
        Variable().Replace(text, match =>
        {
            if (match.Groups[1].Success)
            {
                return "${" + match.Groups[2].Value + "}";
            }
            var name = match.Groups[2].Value;
            return environment(name) ?? throw new UsageException($"{where}: the environment variable {name} is not set (veil.yaml reads it as ${{{name}}}).");
        });

    /// <summary>Writes <paramref name="node"/> as a YAML document, after an optional comment header.</summary>
    public static string Write(JsonNode? node, string? header = null)
    {
        var text = new StringWriter(CultureInfo.InvariantCulture);
        if (header is not null)
        {
            foreach (var line in header.Split('\n'))
            {
                text.WriteLine(line.Length == 0 ? "#" : "# " + line);
            }
        }
        var emitter = new Emitter(text, new EmitterSettings().WithBestIndent(2).WithBestWidth(120).WithIndentedSequences().WithNewLine("\n"));
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart());
        Emit(emitter, node);
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());
        return text.ToString();
    }

    private static void Emit(IEmitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                emitter.Emit(new MappingStart(null, null, isImplicit: true, MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    emitter.Emit(new Scalar(key));
                    Emit(emitter, value);
                }
                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                emitter.Emit(new SequenceStart(null, null, isImplicit: true, array.All(i => i is JsonValue) && array.Count > 0 ? SequenceStyle.Flow : SequenceStyle.Block));
                foreach (var item in array)
                {
                    Emit(emitter, item);
                }
                emitter.Emit(new SequenceEnd());
                break;
            case null:
                emitter.Emit(new Scalar(null, null, "null", ScalarStyle.Plain, isPlainImplicit: true, isQuotedImplicit: false));
                break;
            case JsonValue value when value.GetValueKind() == System.Text.Json.JsonValueKind.String:
                var text = value.GetValue<string>();
                // Strings that would read back as something else (a number, a boolean, null, a
                // ${VAR}) are quoted; multi-line text (descriptions, OpenAPI documents) is a block.
                var style = text.Contains('\n', StringComparison.Ordinal) ? ScalarStyle.Literal
                    : LooksTyped(text) || text.Contains("${", StringComparison.Ordinal) ? ScalarStyle.DoubleQuoted
                    : ScalarStyle.Any;
                if (text.Contains("${", StringComparison.Ordinal))
                {
                    text = text.Replace("${", "$${", StringComparison.Ordinal);
                }
                emitter.Emit(new Scalar(null, null, text, style, isPlainImplicit: true, isQuotedImplicit: true));
                break;
            default:
                emitter.Emit(new Scalar(null, null, node.ToJsonString(), ScalarStyle.Plain, isPlainImplicit: true, isQuotedImplicit: false));
                break;
        }
    }

    private static bool LooksTyped(string text) =>
        text is "" or "~" or "null" or "Null" or "NULL" or "true" or "True" or "TRUE" or "false" or "False" or "FALSE" ||
        Integer().IsMatch(text) || Float().IsMatch(text) || text.Trim() != text;

    /// <summary>A stable text for a leaf value (numbers compared by value, so 5000 equals "5000" and 0.5 equals 0.50).</summary>
    public static string Canonical(JsonNode? node)
    {
        if (node is JsonValue value)
        {
            var raw = value.GetValueKind() == System.Text.Json.JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString();
            if (value.GetValueKind() is System.Text.Json.JsonValueKind.Number or System.Text.Json.JsonValueKind.String &&
                decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && Float().IsMatch(raw))
            {
                return number.ToString("G29", CultureInfo.InvariantCulture);
            }
            return value.GetValueKind() == System.Text.Json.JsonValueKind.String ? raw : value.ToJsonString();
        }
        var builder = new StringBuilder();
        builder.Append(node?.ToJsonString() ?? "null");
        return builder.ToString();
    }
}
