using System.Text.RegularExpressions;

namespace Veil.Docs.Tests;

/// <summary>
/// Every <c>/v1/…</c> path the docs mention is one the fleet serves: a <c>google.api.http</c>
/// binding of a contract (with its method when the docs name one), a path the edge serves itself
/// (<see cref="Fleet.EdgeServedPaths"/>), or a prefix the edge routes to a service.
/// </summary>
public sealed partial class HttpPathTests
{
    [Fact]
    public void V1Paths_MatchAnHttpBindingOfTheContracts()
    {
        var bindings = HttpBinding.FromProtos();
        Assert.NotEmpty(bindings);
        // The paths the edge answers itself count as bindings too (they have no proto service).
        bindings = [.. bindings, .. Fleet.EdgeServedPaths.Select(p => HttpBinding.Parse(p.Method, p.Template, p.Source))];
        var prefixes = ManagementPrefixes();
        var broken = new List<string>();
        foreach (var doc in Docs.All)
        {
            foreach (var line in doc.Lines)
            {
                foreach (Match m in MentionRegex().Matches(line.Text))
                {
                    var mention = DocumentedPath.Parse(m.Groups["path"].Value);
                    var method = m.Groups["method"].Success ? m.Groups["method"].Value : null;
                    var error = mention.Check(method, bindings, prefixes);
                    if (error is not null)
                    {
                        broken.Add($"{doc.Path}:{line.Number}: {(method is null ? "" : method + " ")}{m.Groups["path"].Value} {error}");
                    }
                }
            }
        }
        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }

    [Theory]
    [InlineData("/v1/apis/{api_id}", "/v1/apis/{id}", true)]
    [InlineData("/v1/apis/{api_id}", "/v1/apis/api_123", true)]
    [InlineData("/v1/apis/{api_id}", "/v1/apis", false)]
    [InlineData("/v1/apis/{api_id}", "/v1/apis/{id}/versions", false)]
    [InlineData("/v1/keys/{key_id}:rotate", "/v1/keys/{id}:rotate", true)]
    [InlineData("/v1/keys/{key_id}:rotate", "/v1/keys/key_abc:rotate", true)]
    [InlineData("/v1/keys/{key_id}:rotate", "/v1/keys/{id}:revoke", false)]
    [InlineData("/v1/keys/{key_id}:rotate", "/v1/keys/{id}", false)]
    [InlineData("/v1/keys", "/v1/key", false)]
    [InlineData("/v1/{name=apis/*}/versions", "/v1/apis/api_1/versions", true)]
    [InlineData("/v1/{name=apis/*}/versions", "/v1/plans/p/versions", false)]
    [InlineData("/v1/{name=files/**}", "/v1/files/a/b/c", true)]
    [InlineData("/v1/usage/quota/{subscription_id}", "/v1/usage/...", true)]
    [InlineData("/v1/usage/quota/{subscription_id}", "/v1/usage/**", true)]
    [InlineData("/v1/usage/quota/{subscription_id}", "/v1/...", true)]
    [InlineData("/v1/usage/quota/{subscription_id}", "/v1/billing/**", false)]
    public void PathTemplate_MatchesByTemplateNotByName(string template, string documented, bool matches)
    {
        var binding = HttpBinding.Parse("GET", template);
        Assert.Equal(matches, DocumentedPath.Parse(documented).Check("GET", [binding], new HashSet<string>()) is null);
    }

    [Fact]
    public void V1Paths_ChecksTheMethodTheDocsName()
    {
        var binding = HttpBinding.Parse("POST", "/v1/keys");
        Assert.Null(DocumentedPath.Parse("/v1/keys").Check("POST", [binding], new HashSet<string>()));
        Assert.Null(DocumentedPath.Parse("/v1/keys").Check(null, [binding], new HashSet<string>()));
        Assert.NotNull(DocumentedPath.Parse("/v1/keys").Check("DELETE", [binding], new HashSet<string>()));
    }

    [Fact]
    public void HttpBindings_AreReadFromEveryProto()
    {
        var bindings = HttpBinding.FromProtos();
        Assert.Contains(bindings, b => b.Method == "POST" && b.Template == "/v1/keys/{key_id}:rotate");
        Assert.Contains(bindings, b => b.Method == "PATCH" && b.Template == "/v1/apis/{api_id}");
        Assert.Contains(bindings, b => b.Method == "DELETE" && b.Template == "/v1/usage/webhook");
    }

    /// <summary>
    /// The path prefixes the edge proxies to a service (<c>/v1/auth</c>, <c>/v1/billing</c>, …): the
    /// docs may name a prefix as such ("proxied <c>/v1/billing</c>").
    /// </summary>
    private static HashSet<string> ManagementPrefixes() =>
        Fleet.ManagementRoutes
            .Select(r => r.Match.Path ?? "")
            .Where(p => p.EndsWith("/{**rest}", StringComparison.Ordinal))
            .Select(p => p[..^"/{**rest}".Length])
            .ToHashSet(StringComparer.Ordinal);

    // A /v1 path, optionally after an HTTP method and a base ($EDGE, ${EDGE}, http://host:port).
    // Not after a word character or slash: veil/usage/v1/usage.proto and /openapi/v1.json are no API paths.
    [GeneratedRegex("""(?<![\w./$:{}-])(?:(?<method>GET|HEAD|POST|PUT|PATCH|DELETE)\s+)?(?:\$\{?\w+\}?|https?://[^\s/`"'<>]+)?(?<path>/v1(?:/[^\s`"'()\[\]<>|,;]*)?)""")]
    private static partial Regex MentionRegex();
}

/// <summary>One <c>google.api.http</c> binding: a method and a path template.</summary>
internal sealed partial record HttpBinding(string Method, string Template, string Proto, IReadOnlyList<string> Segments, string? Verb)
{
    public static HttpBinding Parse(string method, string template, string proto = "")
    {
        var (path, verb) = PathTemplate.SplitVerb(template);
        var segments = new List<string>();
        foreach (var segment in PathTemplate.Segments(path))
        {
            // {var} is one segment; {var=pattern} is the pattern's segments (* one, ** the rest).
            var variable = VariableRegex().Match(segment);
            if (!variable.Success)
            {
                segments.Add(segment);
            }
            else if (variable.Groups[2].Success)
            {
                segments.AddRange(variable.Groups[2].Value.Split('/'));
            }
            else
            {
                segments.Add("*");
            }
        }
        return new HttpBinding(method.ToUpperInvariant(), template, proto, segments, verb);
    }

    /// <summary>Every binding of every proto under protos/veil, additional_bindings included.</summary>
    public static IReadOnlyList<HttpBinding> FromProtos()
    {
        var bindings = new List<HttpBinding>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Docs.Root, "protos", "veil"), "*.proto", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            foreach (Match option in OptionRegex().Matches(text))
            {
                var body = Block(text, option.Index + option.Length - 1);
                foreach (Match rule in RuleRegex().Matches(body))
                {
                    bindings.Add(Parse(rule.Groups[1].Value, rule.Groups[2].Value, Docs.Relative(file)));
                }
            }
        }
        return bindings;
    }

    public override string ToString() => $"{Method} {Template}";

    /// <summary>The text between the brace at <paramref name="open"/> and its matching closing brace.</summary>
    private static string Block(string text, int open)
    {
        var depth = 0;
        for (var i = open; i < text.Length; i++)
        {
            depth += text[i] switch { '{' => 1, '}' => -1, _ => 0 };
            if (depth == 0)
            {
                return text[(open + 1)..i];
            }
        }
        throw new InvalidOperationException("unbalanced google.api.http option");
    }

    [GeneratedRegex(@"option\s*\(\s*google\.api\.http\s*\)\s*=\s*\{")]
    private static partial Regex OptionRegex();

    [GeneratedRegex(@"\b(get|put|post|delete|patch)\s*:\s*""([^""]+)""")]
    private static partial Regex RuleRegex();

    [GeneratedRegex(@"^\{(\w+(?:\.\w+)*)(?:=(.+))?\}$")]
    private static partial Regex VariableRegex();
}

/// <summary>A path as the docs write it: literal segments, <c>{placeholders}</c>, maybe a trailing <c>/**</c> or <c>/...</c> meaning "and below".</summary>
internal sealed record DocumentedPath(IReadOnlyList<string> Segments, string? Verb, bool IsPrefix, string Text)
{
    public static DocumentedPath Parse(string text)
    {
        var path = text.Split('?', '#')[0].TrimEnd('.', ':');
        var prefix = false;
        foreach (var wildcard in new[] { "/**", "/*", "/...", "/…", "/{**rest}" })
        {
            if (path.EndsWith(wildcard, StringComparison.Ordinal))
            {
                path = path[..^wildcard.Length];
                prefix = true;
                break;
            }
        }
        if (path.EndsWith('/') && path.Length > 1)
        {
            path = path.TrimEnd('/');
            prefix = true;
        }
        var (rest, verb) = prefix ? (path, null) : PathTemplate.SplitVerb(path);
        return new DocumentedPath(PathTemplate.Segments(rest), verb, prefix, text);
    }

    /// <summary>Null when the path is served; otherwise what is wrong with it.</summary>
    public string? Check(string? method, IReadOnlyList<HttpBinding> bindings, IReadOnlySet<string> managementPrefixes)
    {
        var literal = "/" + string.Join('/', Segments);
        if (managementPrefixes.Contains(literal) && (IsPrefix || Verb is null))
        {
            return null; // a prefix the edge proxies as a whole, named as such
        }
        var matching = bindings.Where(Matches).ToList();
        if (matching.Count == 0)
        {
            var near = bindings.Where(b => b.Segments.Count > 1 && Segments.Count > 1 && b.Segments[1] == Segments[1]).Take(4);
            return $"matches no google.api.http binding in protos/ (same resource: {string.Join("; ", near.Select(b => b.ToString()).DefaultIfEmpty("none"))})";
        }
        var wanted = method is "HEAD" ? "GET" : method;
        if (wanted is not null && !IsPrefix && matching.All(b => b.Method != wanted))
        {
            return $"is bound to {string.Join(", ", matching.Select(b => b.Method).Distinct())}, not {method} ({matching[0].Proto})";
        }
        return null;
    }

    private bool Matches(HttpBinding binding)
    {
        var b = binding.Segments;
        for (var i = 0; i < Segments.Count; i++)
        {
            if (i < b.Count && b[i] == "**")
            {
                return IsPrefix || Verb == binding.Verb;
            }
            if (i >= b.Count || !SegmentMatches(b[i], Segments[i]))
            {
                return false;
            }
        }
        return IsPrefix ? Segments.Count <= b.Count : Segments.Count == b.Count && Verb == binding.Verb;
    }

    // A binding's variable takes any segment, literal or placeholder; a binding's literal takes only itself.
    private static bool SegmentMatches(string bound, string documented) =>
        bound == "*" ? documented.Length > 0 : bound == documented;
}

internal static class PathTemplate
{
    /// <summary>The segments of a path; a slash inside braces (<c>{name=apis/*}</c>) does not split.</summary>
    public static IReadOnlyList<string> Segments(string path)
    {
        var segments = new List<string>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= path.Length; i++)
        {
            if (i == path.Length || (path[i] == '/' && depth == 0))
            {
                if (i > start)
                {
                    segments.Add(path[start..i]);
                }
                start = i + 1;
            }
            else
            {
                depth += path[i] switch { '{' => 1, '}' => -1, _ => 0 };
            }
        }
        return segments;
    }

    /// <summary>Splits <c>/v1/keys/{key_id}:rotate</c> into the path and the custom verb <c>rotate</c> (a colon outside braces in the last segment).</summary>
    public static (string Path, string? Verb) SplitVerb(string template)
    {
        var lastSlash = template.LastIndexOf('/');
        var close = template.LastIndexOf('}');
        var colon = template.LastIndexOf(':');
        return colon > lastSlash && colon > close ? (template[..colon], template[(colon + 1)..]) : (template, null);
    }
}
