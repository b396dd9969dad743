using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Veil.ServiceDefaults.Data;
using Veil.ServiceDefaults.Security;

namespace Veil.Docs.Tests;

/// <summary>
/// Every configuration key the docs name (<c>Section:Key</c> or <c>Section__Key</c>, in code spans
/// and code blocks) is one a process reads: a property of an options class bound from its section,
/// a key the code reads by name, or a framework key on the short list below.
/// </summary>
public sealed partial class ConfigurationKeyTests
{
    /// <summary>The assemblies whose options classes declare <c>const string SectionName</c>.</summary>
    private static readonly string[] Assemblies =
        ["Veil.Edge", "Veil.Identity", "Veil.Catalog", "Veil.Subscriptions", "Veil.RateLimit", "Veil.Usage", "Veil.Billing", "Veil.ServiceDefaults", "Veil.Samples.Upstream"];

    /// <summary>Options bound from a section named in code rather than by a SectionName constant; <c>{name}</c> is any one segment.</summary>
    private static readonly (string Section, Type Options)[] OtherBindings =
    [
        ("Veil:Auth", typeof(VeilAuthOptions)),                 // AddVeilAuthentication
        ("Veil:Sqlite:{name}", typeof(SqliteSettings)),         // AddVeilSqlite(name): one section per database
        ("RateLimit:Redis", typeof(Veil.RateLimit.VeilRedisSettings)), // AddVeilRedis("RateLimit:Redis")
        ("Kestrel:Limits", typeof(KestrelServerLimits)),         // Kestrel binds its limits from configuration
    ];

    /// <summary>Keys the code reads one by one (no options class). Each must still appear in the code, or the docs name a key nothing reads.</summary>
    private static readonly string[] KeysReadByName =
    [
        "Veil:DataDirectory",                                    // AddVeilSqlite and the edge's spool: the data folder
        VeilServiceDefaultsExtensions.TracingEnabledKey,         // AddServiceDefaults: spans without an OTLP exporter
        "Veil:Redis",                                            // apphost: shares the ratelimit buckets in a running Redis
        "Veil:Admin:Email",                                      // apphost: the bootstrap administrator it passes to identity
        "Veil:Admin:Password",
        "Veil:Ports:{resource}:{endpoint}",                      // apphost: moves a process's port
    ];

    /// <summary>
    /// Sections the framework reads, not Veil's options: the docs may name any key under them. Each
    /// with why it is allowed.
    /// </summary>
    private static readonly Dictionary<string, string> FrameworkSections = new(StringComparer.Ordinal)
    {
        // Kestrel:Endpoints:<name> is checked against the endpoints appsettings.json declares (below),
        // Kestrel:Limits against KestrelServerLimits; the rest of Kestrel's schema is Kestrel's.
        ["Kestrel"] = "ASP.NET Core Kestrel: endpoints, limits, certificates",
        // Logging:LogLevel:<category> takes any logger category, so there is no class to check it against.
        ["Logging"] = "Microsoft.Extensions.Logging: levels per category",
        // Connection strings are keyed by resource name, which Aspire chooses.
        ["ConnectionStrings"] = "Microsoft.Extensions.Configuration: GetConnectionString",
        // The Aspire dashboard and hosting read their own settings (ASPIRE_* in the environment).
        ["Aspire"] = ".NET Aspire components and hosting",
    };

    [Fact]
    public void ConfigurationKeys_BindToAnOptionsProperty()
    {
        var sections = Sections();
        var endpoints = KestrelEndpoints();
        var sources = Sources();
        var broken = new List<string>();
        foreach (var doc in Docs.All)
        {
            foreach (var line in doc.Lines)
            {
                var code = line.InFence ? [line.Text] : MarkdownFile.CodeSpans(line.Text);
                foreach (var key in code.SelectMany(c => KeyRegex().Matches(c)).Select(m => m.Value))
                {
                    var error = Check(key, sections, endpoints, sources);
                    if (error is not null)
                    {
                        broken.Add($"{doc.Path}:{line.Number}: {key} {error}");
                    }
                }
                foreach (var key in code.SelectMany(c => DiscoveryKeyRegex().Matches(c)).Select(m => m.Value))
                {
                    var error = CheckDiscoveryKey(key);
                    if (error is not null)
                    {
                        broken.Add($"{doc.Path}:{line.Number}: {key} {error}");
                    }
                }
            }
        }
        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }

    [Theory]
    [InlineData("Edge:AuthCacheTtl", null)]
    [InlineData("Edge__AuthCacheTtl", null)]
    [InlineData("Edge:RateLimiting", null)]
    [InlineData("Edge:RateLimiting:*", null)]
    [InlineData("Edge:RateLimiting:EdgeCount", null)]
    [InlineData("Identity:BillingManagers:N:Email", null)]
    [InlineData("Identity:BillingManagers:0:Email", null)]
    [InlineData("Billing:CreditHoldThresholdMinor:{CUR}", null)]
    [InlineData("Veil:Sqlite:usage:Synchronous", null)]
    [InlineData("Veil:Auth:Authority", null)]
    [InlineData("Kestrel:Limits:MaxRequestBodySize", null)]
    [InlineData("Kestrel:Endpoints:Management:Url", null)]
    [InlineData("Logging:LogLevel:Microsoft.AspNetCore", null)]
    [InlineData("Edge:AuthCacheTTL", "has no property AuthCacheTTL (did you mean AuthCacheTtl?)")]
    [InlineData("Edge:NoSuchKey", "has no property NoSuchKey")]
    [InlineData("Edge:AuthCacheTtl:Seconds", "is TimeSpan: nothing binds below it")]
    [InlineData("Identity:BillingManagers:N:Phone", "has no property Phone")]
    [InlineData("Kestrel:Endpoints:Public", "names an endpoint no appsettings.json declares")]
    [InlineData("Kestrel:Limits:MaxBodySize", "has no property MaxBodySize")]
    [InlineData("Edgy:AuthCacheTtl", "names no configuration section")]
    [InlineData("Veil:DataDir", "names no configuration section")]
    public void Check_NamesTheBrokenPart(string key, string? error)
    {
        var result = Check(key, Sections(), KestrelEndpoints(), Sources());
        if (error is null)
        {
            Assert.Null(result);
        }
        else
        {
            Assert.NotNull(result);
            Assert.Contains(error, result, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("services:identity:grpc:0", null)]
    [InlineData("services__billing__http__0", null)]
    [InlineData("services:{identity,catalog}:{http,grpc}:0", null)]
    [InlineData("services:<name>:<endpoint>:0", null)]
    [InlineData("services:catalogue:grpc:0", "names no service")]
    [InlineData("services:{identity,gateway}:http:0", "names no service")]
    [InlineData("services:identity:https:0", "names no endpoint")]
    public void CheckDiscoveryKey_NamesTheBrokenPart(string key, string? error)
    {
        var result = CheckDiscoveryKey(key);
        if (error is null)
        {
            Assert.Null(result);
        }
        else
        {
            Assert.NotNull(result);
            Assert.Contains(error, result, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Service discovery's <c>services:&lt;service&gt;:&lt;http|grpc&gt;:0</c>: the service is a folder
    /// under services/ and the endpoint one of the two every service has. <c>{a,b}</c> lists several.
    /// </summary>
    private static string? CheckDiscoveryKey(string key)
    {
        var segments = key.Contains("__", StringComparison.Ordinal) ? key.Split("__") : key.Split(':');
        static IEnumerable<string> Each(string segment) =>
            segment.StartsWith('{') && segment.Contains(',', StringComparison.Ordinal) ? segment.Trim('{', '}').Split(',') : [segment];
        var unknown = segments.ElementAtOrDefault(1) is { } services
            ? Each(services).Where(s => !IsPlaceholder(s) && !Fleet.Services.Contains(s)).ToList()
            : [];
        if (unknown.Count > 0)
        {
            return $"names no service: {string.Join(", ", unknown)} (services: {string.Join(", ", Fleet.Services)})";
        }
        var endpoints = segments.ElementAtOrDefault(2) is { } endpoint
            ? Each(endpoint).Where(e => !IsPlaceholder(e) && e is not ("http" or "grpc")).ToList()
            : [];
        return endpoints.Count > 0 ? $"names no endpoint: {string.Join(", ", endpoints)} (every service has http and grpc)" : null;
    }

    private static string? Check(string key, IReadOnlyList<(string[] Section, Type? Options)> sections,
        IReadOnlySet<string> endpoints, IReadOnlyList<string> sources)
    {
        var segments = key.Contains("__", StringComparison.Ordinal) ? key.Split("__") : key.Split(':');
        if (FrameworkSections.ContainsKey(segments[0]))
        {
            if (segments is ["Kestrel", "Endpoints", var endpoint, ..] && !IsPlaceholder(endpoint) && !endpoints.Contains(endpoint))
            {
                return $"names an endpoint no appsettings.json declares ({string.Join(", ", endpoints.Order())})";
            }
            if (segments is not ["Kestrel", "Limits", ..])
            {
                return null;
            }
        }
        string? best = null;
        foreach (var (section, options) in sections)
        {
            if (segments.Length < section.Length || !section.Select((s, i) => s == "{name}" || s == segments[i] || IsPlaceholder(segments[i])).All(x => x))
            {
                continue;
            }
            if (options is null)
            {
                // A key read by name: exactly that key, and the code must still read it.
                if (segments.Length != section.Length)
                {
                    continue;
                }
                var literal = string.Join(':', section.TakeWhile(s => !s.StartsWith('{')));
                return sources.Any(s => s.Contains(literal, StringComparison.Ordinal)) ? null : $"is no longer read anywhere in the code";
            }
            var error = Resolve(options, segments[section.Length..], $"{options.Name} ({string.Join(':', section)})");
            if (error is null)
            {
                return null;
            }
            best ??= error; // the longest section is tried first, so its answer says most
        }
        return best ?? $"names no configuration section: no options class binds {string.Join(':', segments.Take(2))} (sections: {string.Join(", ", sections.Where(s => s.Options is not null).Select(s => string.Join(':', s.Section)).Order())})";
    }

    /// <summary>Walks <paramref name="rest"/> down <paramref name="type"/>'s properties as the configuration binder would.</summary>
    private static string? Resolve(Type type, ReadOnlySpan<string> rest, string where)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (rest.IsEmpty)
        {
            return null;
        }
        if (IsScalar(type))
        {
            return $"is {type.Name}: nothing binds below it ({where})";
        }
        if (rest[0] == "*")
        {
            return null; // "every key under this section"
        }
        if (DictionaryValue(type) is { } value)
        {
            return Resolve(value, rest[1..], where); // any key
        }
        if (CollectionElement(type) is { } element)
        {
            return IsPlaceholder(rest[0]) || rest[0].All(char.IsAsciiDigit)
                ? Resolve(element, rest[1..], where)
                : $"indexes a list with '{rest[0]}' ({where})";
        }
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetMethod is not null && p.GetIndexParameters().Length == 0).ToList();
        var name = rest[0];
        var property = properties.SingleOrDefault(p => p.Name == name);
        if (property is null)
        {
            var near = properties.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
            return $"has no property {name}{(near is null ? "" : $" (did you mean {near.Name}?)")} in {where}";
        }
        return Resolve(property.PropertyType, rest[1..], $"{where}.{property.Name}");
    }

    private static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
        || type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(Uri) || type == typeof(Guid);

    private static Type? DictionaryValue(Type type) =>
        type.IsGenericType && type.GetGenericArguments() is [var k, var v] && k == typeof(string)
        && typeof(IEnumerable).IsAssignableFrom(type) && type.GetInterfaces().Concat([type]).Any(i => i.IsGenericType && i.GetGenericTypeDefinition() is var d
            && (d == typeof(IDictionary<,>) || d == typeof(IReadOnlyDictionary<,>)))
            ? v : null;

    private static Type? CollectionElement(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.GetInterfaces().Concat([type]).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];

    /// <summary>A segment the docs use for "any": <c>N</c>, <c>*</c>, <c>{CUR}</c>, <c>&lt;name&gt;</c>.</summary>
    private static bool IsPlaceholder(string segment) =>
        segment is "N" or "*" || segment.StartsWith('{') || segment.StartsWith('<');

    /// <summary>Every section with its options class (null for a key read by name), longest first.</summary>
    private static List<(string[] Section, Type? Options)> Sections()
    {
        var sections = new List<(string[], Type?)>();
        foreach (var name in Assemblies)
        {
            foreach (var type in Assembly.Load(new AssemblyName(name)).GetTypes())
            {
                if (type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true } field && field.GetRawConstantValue() is string section)
                {
                    sections.Add((section.Split(':'), type));
                }
            }
        }
        sections.AddRange(OtherBindings.Select(b => (b.Section.Split(':'), (Type?)b.Options)));
        sections.AddRange(KeysReadByName.Select(k => (k.Split(':'), (Type?)null)));
        return sections.OrderByDescending(s => s.Item1.Length).ToList();
    }

    /// <summary>The Kestrel endpoint names the processes declare in their appsettings.json.</summary>
    private static HashSet<string> KestrelEndpoints()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in new[] { "edge" }.Concat(Directory.GetDirectories(Path.Combine(Docs.Root, "services")).Select(d => Path.Combine("services", Path.GetFileName(d)))))
        {
            var path = Path.Combine(Docs.Root, file, "appsettings.json");
            if (!File.Exists(path))
            {
                continue;
            }
            using var json = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (json.RootElement.TryGetProperty("Kestrel", out var kestrel) && kestrel.TryGetProperty("Endpoints", out var endpoints))
            {
                names.UnionWith(endpoints.EnumerateObject().Select(e => e.Name));
            }
        }
        return names;
    }

    /// <summary>The C# sources of every process (edge, services, defaults, apphost), without build output.</summary>
    private static List<string> Sources() =>
        new[] { "edge", "services", "defaults", "apphost" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(Docs.Root, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText)
            .ToList();

    // Section:Key or Section__Key: a capitalised first segment, then segments of letters and digits,
    // or placeholders (*, {CUR}, <name>, {Http,Grpc}). Not inside a longer word, URL or path.
    [GeneratedRegex(@"(?<![\w.:$/-])[A-Z][A-Za-z0-9]*(?:(?::(?:[A-Za-z0-9_.]*[A-Za-z0-9]|\*|\{[\w,]+\}|<[\w-]+>))+|(?:__(?:[A-Za-z0-9]+|\{[\w,]+\}|<[\w-]+>))+)")]
    private static partial Regex KeyRegex();

    [GeneratedRegex(@"(?<![\w.:$/-])services(?:(?::(?:[\w]+|\{[\w,]+\}|<[\w-]+>))+|(?:__(?:[A-Za-z0-9]+|\{[\w,]+\}|<[\w-]+>))+)")]
    private static partial Regex DiscoveryKeyRegex();
}
