using System.Text.Json;

namespace Veil.Deploy.Tests;

/// <summary>A Deployment or StatefulSet of one Veil component, with its single app container.</summary>
internal sealed class Workload(Manifest manifest)
{
    public Manifest Manifest { get; } = manifest;

    public string Name => Manifest.Name;

    public Node Pod => Manifest.Spec["template"]["spec"];

    public Node Container => Pod["containers"].Items.Single(c => c["name"].String == Name);

    public IReadOnlyDictionary<string, string> Labels =>
        Manifest.Spec["template"]["metadata"]["labels"].Entries.ToDictionary(e => e.Key, e => e.Value.String);

    /// <summary>Env vars with a literal value; valueFrom entries map to "".</summary>
    public IReadOnlyDictionary<string, string> Env =>
        Container["env"].Items.ToDictionary(e => e["name"].String, e => e["value"].String);

    /// <summary>Container ports by name.</summary>
    public IReadOnlyDictionary<string, int> Ports =>
        Container["ports"].Items.ToDictionary(p => p["name"].String, p => p["containerPort"].Int ?? -1);

    /// <summary>Kestrel endpoints from the env: name → (port, protocols).</summary>
    public IReadOnlyDictionary<string, (int Port, string Protocols)> KestrelEndpoints
    {
        get
        {
            var endpoints = new Dictionary<string, (int, string)>();
            foreach (var (key, value) in Env)
            {
                var parts = key.Split("__");
                if (parts is ["Kestrel", "Endpoints", var name, "Url"])
                {
                    endpoints[name] = (new Uri(value.Replace("+", "0.0.0.0", StringComparison.Ordinal)).Port, Env.GetValueOrDefault($"Kestrel__Endpoints__{name}__Protocols", ""));
                }
            }
            return endpoints;
        }
    }

    /// <summary>The Kestrel endpoints in the component's appsettings.json: name → protocols.</summary>
    public IReadOnlyDictionary<string, string> AppSettingsEndpoints()
    {
        var path = Name == "edge" ? Path.Combine("edge", "appsettings.json") : Path.Combine("services", Name, "appsettings.json");
        using var json = JsonDocument.Parse(Repo.Read(path));
        return json.RootElement.GetProperty("Kestrel").GetProperty("Endpoints").EnumerateObject()
            .ToDictionary(e => e.Name, e => e.Value.GetProperty("Protocols").GetString() ?? "");
    }

    public static IReadOnlyList<Workload> All { get; } = Repo.Manifests
        .Where(m => m.Kind is "Deployment" or "StatefulSet")
        .Select(m => new Workload(m))
        .ToList();

    public static Workload Named(string name) => All.Single(w => w.Name == name);

    public override string ToString() => Manifest.ToString();
}
