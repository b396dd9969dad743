using System.Text.RegularExpressions;
using Veil.Testing;
using YamlDotNet.RepresentationModel;

namespace Veil.Deploy.Tests;

/// <summary>The repository on disk: the manifests in deploy/istio and the code they deploy.</summary>
internal static partial class Repo
{
    public static string Root => RepositoryRoot.Path;

    public static string ManifestDirectory => Path.Combine(Root, "deploy", "istio");

    /// <summary>Every document of every file kustomization.yaml lists, in order.</summary>
    public static IReadOnlyList<Manifest> Manifests { get; } = LoadManifests();

    public static string Read(params string[] path) => File.ReadAllText(Path.Combine([Root, .. path]));

    /// <summary>The C# sources of one component (<c>edge</c> or a service name), without build output.</summary>
    public static IEnumerable<string> Sources(string component)
    {
        var directory = component == "edge" ? Path.Combine(Root, "edge") : Path.Combine(Root, "services", component);
        return Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText);
    }

    /// <summary>The services that own a SQLite file: their Program.cs calls AddVeilSqlite.</summary>
    public static IReadOnlySet<string> SqliteOwners() =>
        Fleet.Services.Where(s => Read("services", s, "Program.cs").Contains("AddVeilSqlite(", StringComparison.Ordinal)).ToHashSet();

    /// <summary>The RPC names of a service's proto (<c>veil.&lt;name&gt;.v1</c>), with its full service name.</summary>
    public static (string FullName, IReadOnlySet<string> Rpcs) Proto(string service)
    {
        var text = Read("protos", "veil", service, "v1", service + ".proto");
        var package = PackageRegex().Match(text).Groups[1].Value;
        var name = ServiceRegex().Match(text).Groups[1].Value;
        var rpcs = RpcRegex().Matches(text).Select(m => m.Groups[1].Value).ToHashSet();
        return ($"{package}.{name}", rpcs);
    }

    private static List<Manifest> LoadManifests()
    {
        var manifests = new List<Manifest>();
        foreach (var file in KustomizationResources())
        {
            var stream = new YamlStream();
            using (var reader = new StringReader(File.ReadAllText(Path.Combine(ManifestDirectory, file))))
            {
                stream.Load(reader);
            }
            foreach (var document in stream.Documents)
            {
                if (document.RootNode is YamlMappingNode root)
                {
                    manifests.Add(new Manifest(file, Node.From(root)));
                }
            }
        }
        return manifests;
    }

    public static IReadOnlyList<string> KustomizationResources()
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(File.ReadAllText(Path.Combine(ManifestDirectory, "kustomization.yaml"))))
        {
            stream.Load(reader);
        }
        return Node.From(stream.Documents[0].RootNode)["resources"].Items.Select(n => n.String).ToList();
    }

    [GeneratedRegex(@"^package\s+([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex PackageRegex();

    [GeneratedRegex(@"^service\s+(\w+)", RegexOptions.Multiline)]
    private static partial Regex ServiceRegex();

    [GeneratedRegex(@"^\s*rpc\s+(\w+)\s*\(", RegexOptions.Multiline)]
    private static partial Regex RpcRegex();
}

/// <summary>One YAML document of one manifest file.</summary>
internal sealed record Manifest(string File, Node Root)
{
    public string Kind => Root["kind"].String;

    public string Name => Root["metadata"]["name"].String;

    public Node Spec => Root["spec"];

    public override string ToString() => $"{Kind}/{Name} ({File})";
}

/// <summary>A YAML node with forgiving navigation: a missing key is a <see cref="Missing"/> node.</summary>
internal sealed class Node
{
    private readonly object? _value;

    private Node(object? value) => _value = value;

    public static Node Missing { get; } = new(null);

    public bool Exists => _value is not null;

    public Node this[string key] =>
        _value is Dictionary<string, Node> map && map.TryGetValue(key, out var child) ? child : Missing;

    public IReadOnlyList<Node> Items => _value as List<Node> ?? [];

    public IReadOnlyDictionary<string, Node> Entries => _value as Dictionary<string, Node> ?? [];

    public string String => _value as string ?? "";

    public bool IsEmptyMapping => _value is Dictionary<string, Node> { Count: 0 };

    public int? Int => int.TryParse(_value as string, out var i) ? i : null;

    public static Node From(YamlNode node) => node switch
    {
        YamlMappingNode map => new Node(map.Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value!, c => From(c.Value))),
        YamlSequenceNode seq => new Node(seq.Children.Select(From).ToList()),
        YamlScalarNode scalar => new Node(scalar.Value ?? ""),
        _ => Missing,
    };

    public override string ToString() => _value?.ToString() ?? "(missing)";
}
