using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Veil.Cli.Apply;

/// <summary>
/// A veil.yaml: the provider's APIs, each with its releases and plans (docs/cli.md#veilyaml).
/// A field left out is not managed (the server keeps or defaults it), except a plan's terms,
/// which are always the whole plan.
/// </summary>
public sealed class VeilFile
{
    public required List<ApiSpec> Apis { get; init; }

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    /// <summary>Reads and checks a veil.yaml; every problem is a <see cref="UsageException"/> naming the file.</summary>
    public static VeilFile Load(string path, Func<string, string?> environment)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"{path} does not exist.");
        }
        var node = YamlJson.Read(File.ReadAllText(path), path, environment) ?? throw new UsageException($"{path} is empty.");
        VeilFile file;
        try
        {
            file = node.Deserialize<VeilFile>(Options) ?? throw new UsageException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new UsageException($"{path}: {e.Path}: {e.Message.Split(" Path:")[0]}");
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var slugs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (api, i) in file.Apis.Select((a, i) => (a, i)))
        {
            var where = $"{path}: apis[{i}] ({api.Slug})";
            if (!slugs.Add(api.Slug))
            {
                throw new UsageException($"{where}: the slug appears twice.");
            }
            if (api.Openapi is not null && api.OpenapiDocument is not null)
            {
                throw new UsageException($"{where}: give openapi (a file) or openapiDocument (inline), not both.");
            }
            if (api.Openapi is not null)
            {
                var document = Path.Combine(directory, api.Openapi);
                if (!File.Exists(document))
                {
                    throw new UsageException($"{where}: openapi file {document} does not exist.");
                }
                api.OpenapiDocument = File.ReadAllText(document);
            }
            Unique(api.Plans?.Select(p => p.Name), $"{where}: plan");
            Unique(api.Releases?.Select(r => r.Name), $"{where}: release");
        }
        return file;
    }

    private static void Unique(IEnumerable<string>? names, string what)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names ?? [])
        {
            if (!seen.Add(name))
            {
                throw new UsageException($"{what} '{name}' appears twice.");
            }
        }
    }
}

/// <summary>One API, matched to the server's by slug.</summary>
public sealed class ApiSpec
{
    public required string Slug { get; init; }

    public required string Name { get; init; }

    /// <summary>Left out: empty.</summary>
    public string? Description { get; init; }

    public required string UpstreamUrl { get; init; }

    /// <summary>Left out: not managed (the server's default on create).</summary>
    public int? TimeoutMs { get; init; }

    /// <summary>An OpenAPI document file, relative to the veil.yaml.</summary>
    public string? Openapi { get; init; }

    /// <summary>An inline OpenAPI document (what <c>veil export</c> writes to standard output).</summary>
    public string? OpenapiDocument { get; set; }

    /// <summary>The whole gateway policies object (docs/policies.md); left out: not managed.</summary>
    public JsonObject? Policies { get; init; }

    /// <summary>The whole list of upstream credentials (values from ${ENV}); left out: not managed.</summary>
    public List<CredentialSpec>? UpstreamCredentials { get; init; }

    /// <summary>Releases, matched by name; left out or unlisted: not managed.</summary>
    public List<ReleaseSpec>? Releases { get; init; }

    /// <summary>Plans, matched by name; unlisted plans are left alone.</summary>
    public List<PlanSpec>? Plans { get; init; }
}

/// <summary>A secret the edge adds to every upstream call; never exported.</summary>
public sealed class CredentialSpec
{
    /// <summary>"header" (default) or "query".</summary>
    public string? Location { get; init; }

    public required string Name { get; init; }

    public required string Value { get; init; }
}

/// <summary>A release (v1, v2 …) of an API with its own upstream and policies.</summary>
public sealed class ReleaseSpec
{
    public required string Name { get; init; }

    public string? UpstreamUrl { get; init; }

    public JsonObject? Policies { get; init; }
}

/// <summary>A plan's whole terms (what is left out takes the server's default).</summary>
public sealed class PlanSpec
{
    public required string Name { get; init; }

    public required int RequestsPerSecond { get; init; }

    /// <summary>Left out: equal to requestsPerSecond.</summary>
    public int? Burst { get; init; }

    public long MonthlyQuota { get; init; }

    public long PricePerCallMinor { get; init; }

    /// <summary>Left out: USD.</summary>
    public string? Currency { get; init; }

    public bool OverageAllowed { get; init; }

    public long BasePriceMinor { get; init; }

    public long OveragePricePerCallMinor { get; init; }
}
