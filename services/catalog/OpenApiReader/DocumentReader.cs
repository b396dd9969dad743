using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using Microsoft.OpenApi.YamlReader;

namespace Veil.Catalog.OpenApiReader;

/// <summary>
/// The entry points the catalog calls across its load-context boundary. Only strings cross it
/// (the catalog's own Microsoft.OpenApi is another major version), so results are JSON texts.
/// </summary>
public static partial class DocumentReader
{
    private static readonly JsonSerializerOptions Output = new()
    {
        WriteIndented = true,
        // The document is served as application/json, never inlined into HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// Parses and validates <paramref name="document"/> (JSON or YAML). Returns
    /// <c>{"version","title","description","servers":[…],"errors":[{"pointer","message"}]}</c>:
    /// <c>version</c> is "2.0", "3.0", "3.1" or another the reader recognised, <c>servers</c> the
    /// root servers' urls with their variables' defaults filled in.
    /// </summary>
    public static string Read(string document)
    {
        var result = new JsonObject();
        var errors = new JsonArray();
        result["errors"] = errors;
        var parsed = Parse(document, errors);
        if (parsed is { } p)
        {
            result["version"] = p.Version;
            result["title"] = p.Document.Info?.Title;
            result["description"] = p.Document.Info?.Description;
            result["servers"] = new JsonArray((p.Document.Servers ?? []).Select(s => (JsonNode?)JsonValue.Create(Resolve(s, null))).ToArray());
        }
        return result.ToJsonString();
    }

    /// <summary>
    /// The document as consumers see it: every server (root, path, operation, link) is
    /// <paramref name="publicUrl"/>, and every other mention of an upstream address — the
    /// document's own servers with any variable value, and <paramref name="hiddenUrlsJson"/> (a JSON
    /// array of the API's upstream urls) — is replaced by the public address. Returns the text in
    /// <paramref name="format"/> ("json" or "yaml"), or null when the document does not read as
    /// OpenAPI 3.0 or 3.1.
    /// </summary>
    public static string? Publish(string document, string publicUrl, string hiddenUrlsJson, string format)
    {
        var errors = new JsonArray();
        if (Parse(document, errors) is not { } parsed || errors.Count > 0 || parsed.SpecVersion is not (OpenApiSpecVersion.OpenApi3_0 or OpenApiSpecVersion.OpenApi3_1))
        {
            return null;
        }
        var hidden = JsonSerializer.Deserialize<List<string>>(hiddenUrlsJson) ?? [];
        var servers = new ServerRewriter(publicUrl);
        new OpenApiWalker(servers).Walk(parsed.Document);
        hidden.AddRange(servers.Seen);
        parsed.Document.Servers = [new OpenApiServer { Url = publicUrl }];

        var json = JsonNode.Parse(Serialize(parsed.Document, parsed.SpecVersion, yaml: false))!;
        var scrubbed = Scrub(json, AddressPattern(hidden), publicUrl)!;
        var text = scrubbed.ToJsonString(Output);
        if (format != "yaml")
        {
            return text;
        }
        var again = Parse(text, new JsonArray());
        return again is null ? null : Serialize(again.Value.Document, again.Value.SpecVersion, yaml: true);
    }

    private readonly record struct Parsed(OpenApiDocument Document, OpenApiSpecVersion SpecVersion, string Version);

    private static Parsed? Parse(string document, JsonArray errors)
    {
        // Never fetch what a $ref names (another host, a file): the document is read as given.
        var settings = new OpenApiReaderSettings { LoadExternalRefs = false };
        settings.TryAddReader(OpenApiConstants.Yaml, new OpenApiYamlReader());
        try
        {
            var read = OpenApiDocument.Parse(document, format: null, settings);
            // The reader validates with the default rule set too; its findings are among these.
            foreach (var error in read.Diagnostic?.Errors ?? [])
            {
                AddError(errors, error.Pointer, error.Message);
            }
            var spec = read.Diagnostic?.SpecificationVersion ?? OpenApiSpecVersion.OpenApi2_0;
            return read.Document is null ? null : new Parsed(read.Document, spec, VersionText(spec));
        }
        catch (OpenApiUnsupportedSpecVersionException e)
        {
            AddError(errors, "#/openapi", e.Message + " Import an OpenAPI 3.0 or 3.1 document.");
        }
#pragma warning disable CA1031 // Untrusted text: whatever the reader throws on it is the provider's error to read, not a crash.
        catch (Exception e)
#pragma warning restore CA1031
        {
            AddError(errors, "#", "The document could not be read as OpenAPI (JSON or YAML): " + e.Message);
        }
        return null;
    }

    private static void AddError(JsonArray errors, string? pointer, string message)
    {
        // Validation repeats some reader errors; one of each is enough.
        var p = string.IsNullOrEmpty(pointer) ? "#" : pointer;
        if (!errors.Any(e => (string?)e!["pointer"] == p && (string?)e["message"] == message))
        {
            errors.Add(new JsonObject { ["pointer"] = p, ["message"] = message });
        }
    }

    private static string VersionText(OpenApiSpecVersion spec) => spec switch
    {
        OpenApiSpecVersion.OpenApi2_0 => "2.0",
        OpenApiSpecVersion.OpenApi3_0 => "3.0",
        OpenApiSpecVersion.OpenApi3_1 => "3.1",
        _ => spec.ToString(),
    };

    private static string Serialize(OpenApiDocument document, OpenApiSpecVersion spec, bool yaml)
    {
        using var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        IOpenApiWriter writer = yaml ? new OpenApiYamlWriter(text) : new OpenApiJsonWriter(text);
        document.SerializeAs(spec, writer);
        text.Flush();
        return text.ToString();
    }

    /// <summary>A server's url with each <c>{variable}</c> replaced by <paramref name="value"/>'s pick, or its default.</summary>
    private static string Resolve(OpenApiServer server, Func<string, OpenApiServerVariable, string>? value)
    {
        var url = server.Url ?? "";
        foreach (var (name, variable) in server.Variables ?? new Dictionary<string, OpenApiServerVariable>())
        {
            url = url.Replace("{" + name + "}", value is null ? variable.Default : value(name, variable), StringComparison.Ordinal);
        }
        return url;
    }

    /// <summary>Points every server at the public url and remembers the addresses they named.</summary>
    private sealed class ServerRewriter(string publicUrl) : OpenApiVisitorBase
    {
        public List<string> Seen { get; } = [];

        public override void Visit(OpenApiServer server)
        {
            Seen.Add(Resolve(server, null));
            // Every value a variable may take names an address too (e.g. {env}: prod, staging).
            foreach (var (name, variable) in server.Variables ?? new Dictionary<string, OpenApiServerVariable>())
            {
                foreach (var option in variable.Enum ?? [])
                {
                    Seen.Add(Resolve(server, (n, v) => n == name ? option : v.Default ?? ""));
                }
            }
            server.Url = publicUrl;
            server.Variables = null;
            server.Description = null;
        }
    }

    /// <summary>
    /// One pattern for every form of the hidden addresses: the url itself and scheme://authority
    /// (group "url"), then the bare host with any port after it (group "host"; only for a host with
    /// a dot or an IP literal: a single label such as "api" would match ordinary words and paths).
    /// Longest first, so one pass replaces each mention whole.
    /// </summary>
    private static Regex? AddressPattern(IEnumerable<string> urls)
    {
        var urlForms = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var hostForms = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            {
                continue;
            }
            urlForms.Add(url.TrimEnd('/'));
            urlForms.Add(uri.GetLeftPart(UriPartial.Authority));
            var host = uri.Host;
            if (host.Contains('.', StringComparison.Ordinal) || host.Contains(':', StringComparison.Ordinal))
            {
                hostForms.Add(host);
                hostForms.Add(uri.IdnHost);
            }
        }
        urlForms.RemoveWhere(string.IsNullOrEmpty);
        hostForms.RemoveWhere(string.IsNullOrEmpty);
        if (urlForms.Count == 0)
        {
            return null;
        }
        static string Alternatives(IEnumerable<string> forms) => string.Join("|", forms.OrderByDescending(f => f.Length).Select(Regex.Escape));
        var pattern = "(?<url>" + Alternatives(urlForms) + ")" + (hostForms.Count > 0 ? "|(?<host>(?:" + Alternatives(hostForms) + ")(?::[0-9]{1,5})?)" : "");
        return new Regex(pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture, TimeSpan.FromSeconds(2));
    }

    /// <summary>Every string (values and property names) with each hidden address replaced by the public one.</summary>
    private static JsonNode? Scrub(JsonNode? node, Regex? pattern, string publicUrl)
    {
        if (pattern is null || node is null)
        {
            return node;
        }
        var publicUri = new Uri(publicUrl);
        string Replace(string s) => pattern.Replace(s, m => m.Groups["url"].Success ? publicUrl.TrimEnd('/') : publicUri.Authority);

        switch (node)
        {
            case JsonObject obj:
                var copy = new JsonObject();
                foreach (var (key, value) in obj.ToList())
                {
                    obj.Remove(key);
                    copy[Replace(key)] = Scrub(value, pattern, publicUrl);
                }
                return copy;
            case JsonArray array:
                var items = array.ToList();
                array.Clear();
                return new JsonArray(items.Select(i => Scrub(i, pattern, publicUrl)).ToArray());
            case JsonValue value when value.TryGetValue<string>(out var s):
                return JsonValue.Create(Replace(s));
            default:
                return node;
        }
    }
}
