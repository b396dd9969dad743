using System.Text.Json.Nodes;
using Veil.Cli.Http;

namespace Veil.Cli.Apply;

/// <summary>
/// The signed-in provider's APIs, releases and plans in veil.yaml form. Secrets are never
/// written: upstream credentials are left out (so apply leaves them as they are) and named in the
/// header comment.
/// </summary>
public static class Exporter
{
    private static readonly string[] PlanFields =
        ["requestsPerSecond", "burst", "monthlyQuota", "pricePerCallMinor", "currency", "overageAllowed", "basePriceMinor", "overagePricePerCallMinor"];

    /// <summary>
    /// Builds the document; with <paramref name="documentsDirectory"/>, OpenAPI documents go to
    /// files there (<c>{slug}.openapi.json|yaml</c>) and the YAML names them, else they are inline.
    /// </summary>
    public static async Task<(JsonObject Document, List<string> Notes, Dictionary<string, string> Files)> ExportAsync(
        VeilClient client, IReadOnlyCollection<string> only, bool documentsToFiles, Action<string> progress, CancellationToken ct)
    {
        var me = await client.GetAsync("v1/accounts/me", ct);
        var providerId = Output.Text(me["account"]?["id"]);
        var list = await Paths.AllAsync(client, "v1/apis" + Paths.Query(("providerId", providerId), ("pageSize", "100")), "apis", ct);
        var slugs = list.Select(a => Output.Text(a?["slug"])).Where(s => only.Count == 0 || only.Contains(s)).Order(StringComparer.Ordinal).ToList();
        var apis = new JsonArray();
        var notes = new List<string>();
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (slug, index) in slugs.Select((s, i) => (s, i)))
        {
            progress($"[{index + 1}/{slugs.Count}] export {slug}");
            var api = (await client.GetAsync($"v1/apis/{Paths.Segment(slug)}", ct))["api"]!;
            var entry = new JsonObject
            {
                ["slug"] = slug,
                ["name"] = Output.Text(api["name"]),
            };
            if (Output.Text(api["description"]).Length > 0)
            {
                entry["description"] = Output.Text(api["description"]);
            }
            entry["upstreamUrl"] = Output.Text(api["upstreamUrl"]);
            if (api["timeoutMs"] is { } timeout)
            {
                entry["timeoutMs"] = Number(timeout);
            }
            var document = Output.Text(api["openapiDocument"]);
            if (document.Length > 0)
            {
                if (documentsToFiles)
                {
                    var name = $"{slug}.openapi.{(document.TrimStart().StartsWith('{') ? "json" : "yaml")}";
                    files[name] = document;
                    entry["openapi"] = name;
                }
                else
                {
                    entry["openapiDocument"] = document;
                }
            }
            if (Planner.Normalize(api["policies"], "") is JsonObject policies)
            {
                entry["policies"] = policies;
            }
            if (api["upstreamCredentials"] is JsonArray { Count: > 0 } credentials)
            {
                notes.Add($"{slug}: upstream credentials {string.Join(", ", credentials.Select(c => $"{Output.Text(c?["name"])} ({(Output.Text(c?["location"]) is { Length: > 0 } l ? l : "header")})"))} are not exported; " +
                    "add them under upstreamCredentials with values like ${ENV_NAME} to manage them here.");
            }
            if (api["releases"] is JsonArray { Count: > 0 } releases)
            {
                entry["releases"] = new JsonArray(releases.Select(r =>
                {
                    var release = new JsonObject { ["name"] = Output.Text(r?["name"]) };
                    if (Output.Text(r?["upstreamUrl"]).Length > 0)
                    {
                        release["upstreamUrl"] = Output.Text(r?["upstreamUrl"]);
                    }
                    if (Planner.Normalize(r?["policies"], "") is JsonObject releasePolicies)
                    {
                        release["policies"] = releasePolicies;
                    }
                    return (JsonNode)release;
                }).ToArray());
            }
            var plans = await Paths.AllAsync(client, "v1/plans" + Paths.Query(("apiId", slug), ("pageSize", "100")), "plans", ct);
            var active = plans.Where(p => !Output.Text(p?["state"]).EndsWith("ARCHIVED", StringComparison.Ordinal)).ToList();
            if (active.Count > 0)
            {
                entry["plans"] = new JsonArray(active.Select(p =>
                {
                    var plan = new JsonObject { ["name"] = Output.Text(p?["name"]) };
                    foreach (var field in PlanFields)
                    {
                        var value = p?[field];
                        plan[field] = field switch
                        {
                            "currency" => Output.Text(value) is { Length: > 0 } c ? c : "USD",
                            "overageAllowed" => value?.GetValueKind() == System.Text.Json.JsonValueKind.True,
                            _ => Number(value ?? 0),
                        };
                    }
                    return (JsonNode)plan;
                }).ToArray());
            }
            apis.Add(entry);
        }
        return (new JsonObject { ["apis"] = apis }, notes, files);
    }

    /// <summary>Protobuf JSON writes int64 as strings: the file shows them as numbers.</summary>
    private static JsonNode Number(JsonNode value) =>
        long.TryParse(Output.Text(value), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? JsonValue.Create(n)
            : value.DeepClone();
}
