using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Veil.Cli.Commands;
using Veil.Cli.Http;

namespace Veil.Cli.Apply;

/// <summary>What apply does to one object.</summary>
public enum ChangeAction
{
    NoOp,
    Create,
    Update,
}

/// <summary>One object of the plan: its kind (api, release, plan), key, action, the fields that change, and how to make the change.</summary>
/// <remarks><see cref="Validate"/>, when set, sends the same request as a dry run (validateOnly): the server checks it and stores nothing.</remarks>
public sealed record Change(string Kind, string Key, ChangeAction Action, IReadOnlyList<string> Fields, Func<CancellationToken, Task>? Execute)
{
    public Func<CancellationToken, Task>? Validate { get; init; }
}

/// <summary>
/// Compares a veil.yaml with the server and lists the changes: APIs matched by slug, releases by
/// (slug, name), plans by (slug, plan name). Reading is all it does; each change carries the calls
/// that make it, run in order by apply.
/// </summary>
public static class Planner
{
    /// <summary>The policies' parts, each replaced whole by an update (an empty value resets it).</summary>
    private static readonly string[] PolicyParts = ["targets", "healthCheck", "circuitBreaker", "retry", "protocol", "cors", "transforms"];

    // Fields with presence in the proto (optional): false or 0 there means something ("retries off"),
    // unlike everywhere else, where 0, false and "" mean "the default".
    private static readonly HashSet<string> PresenceFields =
        ["circuitBreaker.enabled", "retry.enabled", "retry.maxRetries", "retry.budgetRatio", "cors.maxAgeSeconds"];

    private const string NoReleases = "remove `releases` from veil.yaml, or use a server with releases.";

    public static async Task<List<Change>> PlanAsync(VeilClient client, VeilFile file, CancellationToken ct)
    {
        var changes = new List<Change>();
        foreach (var spec in file.Apis)
        {
            var api = await GetApiAsync(client, spec.Slug, ct);
            changes.Add(PlanApi(client, spec, api));
            foreach (var release in spec.Releases ?? [])
            {
                changes.Add(PlanRelease(client, spec.Slug, release, (api?["releases"] as JsonArray)?.FirstOrDefault(r => Output.Text(r?["name"]) == release.Name)));
            }
            if (spec.Plans is { Count: > 0 })
            {
                var plans = api is null ? [] : await Paths.AllAsync(client, "v1/plans" + Paths.Query(("apiId", spec.Slug), ("pageSize", "100")), "plans", ct);
                foreach (var plan in spec.Plans)
                {
                    changes.Add(PlanPlan(client, spec.Slug, plan, plans.FirstOrDefault(p => Output.Text(p?["name"]) == plan.Name)));
                }
            }
        }
        return changes;
    }

    /// <summary>The API as its owner sees it, or null when no API has the slug.</summary>
    public static async Task<JsonObject?> GetApiAsync(VeilClient client, string slug, CancellationToken ct)
    {
        try
        {
            var api = (await client.GetAsync($"v1/apis/{Paths.Segment(slug)}", ct))["api"] as JsonObject;
            if (api is not null && string.IsNullOrEmpty(Output.Text(api["upstreamUrl"])))
            {
                // Only the owner (and admins) see the upstream: this slug is someone else's API.
                throw new CommandFailedException($"The slug '{slug}' is taken by another provider's API: choose another slug in veil.yaml.");
            }
            return api;
        }
        catch (VeilApiException e) when (e.Status == 404)
        {
            return null;
        }
    }

    private static Change PlanApi(VeilClient client, ApiSpec spec, JsonObject? api)
    {
        if (api is null)
        {
            var body = new JsonObject
            {
                ["slug"] = spec.Slug,
                ["name"] = spec.Name,
                ["description"] = spec.Description ?? "",
                ["upstreamUrl"] = spec.UpstreamUrl,
            };
            if (spec.TimeoutMs is { } timeout)
            {
                body["timeoutMs"] = timeout;
            }
            if (spec.OpenapiDocument is not null)
            {
                body["openapiDocument"] = spec.OpenapiDocument;
            }
            if (spec.Policies is not null)
            {
                body["policies"] = spec.Policies.DeepClone();
            }
            if (spec.UpstreamCredentials is not null)
            {
                body["upstreamCredentials"] = Credentials(spec.UpstreamCredentials);
            }
            return new Change("api", spec.Slug, ChangeAction.Create, [], ct => client.PostAsync("v1/apis", body, ct))
            {
                Validate = ct => client.PostAsync("v1/apis", ValidateOnly(body), ct),
            };
        }

        var fields = new List<string>();
        var update = new JsonObject();
        void Compare(string field, string desired, JsonNode? current)
        {
            if (desired != Output.Text(current))
            {
                fields.Add(field);
                update[field] = JsonValue.Create(desired);
            }
        }
        Compare("name", spec.Name, api["name"]);
        Compare("description", spec.Description ?? "", api["description"]);
        Compare("upstreamUrl", spec.UpstreamUrl, api["upstreamUrl"]);
        if (spec.TimeoutMs is { } timeoutMs && YamlJson.Canonical(timeoutMs) != YamlJson.Canonical(api["timeoutMs"] ?? 0))
        {
            fields.Add("timeoutMs");
            update["timeoutMs"] = timeoutMs;
        }
        if (spec.OpenapiDocument is not null && spec.OpenapiDocument != Output.Text(api["openapiDocument"]))
        {
            fields.Add("openapiDocument");
            update["openapiDocument"] = spec.OpenapiDocument;
        }
        if (spec.Policies is not null)
        {
            var changed = DiffPolicies(spec.Policies, api["policies"] as JsonObject);
            if (changed.Count > 0)
            {
                fields.AddRange(changed.Select(f => "policies." + f));
                update["policies"] = PolicyUpdate(spec.Policies);
            }
        }
        if (spec.UpstreamCredentials is not null && !SameCredentials(spec.UpstreamCredentials, api["upstreamCredentials"] as JsonArray))
        {
            fields.Add("upstreamCredentials");
            update["upstreamCredentials"] = new JsonObject { ["items"] = Credentials(spec.UpstreamCredentials) };
        }
        if (fields.Count == 0)
        {
            return new Change("api", spec.Slug, ChangeAction.NoOp, [], null);
        }
        var etag = api["etag"] is { } e ? Output.Text(e) : null;
        var path = $"v1/apis/{Paths.Segment(spec.Slug)}";
        var ifMatch = string.IsNullOrEmpty(etag) ? null : etag;
        return new Change("api", spec.Slug, ChangeAction.Update, fields, ct => client.SendAsync(HttpMethod.Patch, path, update, ct, ifMatch: ifMatch))
        {
            Validate = ct => client.SendAsync(HttpMethod.Patch, path, ValidateOnly(update), ct, ifMatch: ifMatch),
        };
    }

    private static Change PlanRelease(VeilClient client, string slug, ReleaseSpec spec, JsonNode? release)
    {
        var key = $"{slug}/{spec.Name}";
        var path = $"v1/apis/{Paths.Segment(slug)}/releases";
        if (release is null)
        {
            var body = new JsonObject { ["name"] = spec.Name };
            if (spec.UpstreamUrl is not null)
            {
                body["upstreamUrl"] = spec.UpstreamUrl;
            }
            if (spec.Policies is not null)
            {
                body["policies"] = spec.Policies.DeepClone();
            }
            return new Change("release", key, ChangeAction.Create, [], ct => NewRoutes.CallAsync(() => client.PostAsync(path, body, ct), client, "POST", path, "create releases", NoReleases));
        }
        var fields = new List<string>();
        var update = new JsonObject();
        if (spec.UpstreamUrl is not null && spec.UpstreamUrl != Output.Text(release["upstreamUrl"]))
        {
            fields.Add("upstreamUrl");
            update["upstreamUrl"] = spec.UpstreamUrl;
        }
        if (spec.Policies is not null)
        {
            var changed = DiffPolicies(spec.Policies, release["policies"] as JsonObject);
            if (changed.Count > 0)
            {
                fields.AddRange(changed.Select(f => "policies." + f));
                update["policies"] = PolicyUpdate(spec.Policies);
            }
        }
        if (fields.Count == 0)
        {
            return new Change("release", key, ChangeAction.NoOp, [], null);
        }
        var releasePath = $"{path}/{Paths.Segment(spec.Name)}";
        return new Change("release", key, ChangeAction.Update, fields,
            ct => NewRoutes.CallAsync(() => client.SendAsync(HttpMethod.Patch, releasePath, update, ct), client, "PATCH", releasePath, "change releases", NoReleases));
    }

    private static Change PlanPlan(VeilClient client, string slug, PlanSpec spec, JsonNode? plan)
    {
        var key = $"{slug}/{spec.Name}";
        var terms = Terms(spec);
        if (plan is null)
        {
            var body = new JsonObject { ["apiId"] = slug, ["name"] = spec.Name };
            foreach (var (name, value) in terms)
            {
                body[name] = value?.DeepClone();
            }
            return new Change("plan", key, ChangeAction.Create, [], ct => client.PostAsync("v1/plans", body, ct));
        }
        var fields = terms.Where(t => YamlJson.Canonical(t.Value) != YamlJson.Canonical(plan[t.Key] ?? Default(t.Value))).Select(t => t.Key).ToList();
        if (fields.Count == 0)
        {
            return new Change("plan", key, ChangeAction.NoOp, [], null);
        }
        var id = Output.Text(plan["id"]);
        var etag = plan["etag"] is { } e ? Output.Text(e) : null;
        return new Change("plan", key, ChangeAction.Update, fields,
            ct => PlanCommands.UpdateAsync(client, id, terms.DeepClone().AsObject(), string.IsNullOrEmpty(etag) ? null : etag, ct));
    }

    /// <summary>The same body as a dry run: the catalog validates it in the same transaction and rolls it back (docs/catalog.md).</summary>
    private static JsonObject ValidateOnly(JsonObject body)
    {
        var copy = body.DeepClone().AsObject();
        copy["validateOnly"] = true;
        return copy;
    }

    /// <summary>A plan's terms as the server stores them (burst defaults to the rps, currency to USD).</summary>
    public static JsonObject Terms(PlanSpec spec) => new()
    {
        ["requestsPerSecond"] = spec.RequestsPerSecond,
        ["burst"] = spec.Burst is > 0 ? spec.Burst : spec.RequestsPerSecond,
        ["monthlyQuota"] = spec.MonthlyQuota,
        ["pricePerCallMinor"] = spec.PricePerCallMinor,
        ["currency"] = string.IsNullOrEmpty(spec.Currency) ? "USD" : spec.Currency,
        ["overageAllowed"] = spec.OverageAllowed,
        ["basePriceMinor"] = spec.BasePriceMinor,
        ["overagePricePerCallMinor"] = spec.OveragePricePerCallMinor,
    };

    private static JsonNode Default(JsonNode? value) => value?.GetValueKind() switch
    {
        JsonValueKind.True or JsonValueKind.False => false,
        JsonValueKind.String => "",
        _ => 0,
    };

    private static JsonArray Credentials(List<CredentialSpec> credentials) =>
        new(credentials.Select(c => (JsonNode)new JsonObject { ["location"] = c.Location ?? "header", ["name"] = c.Name, ["value"] = c.Value }).ToArray());

    /// <summary>
    /// Whether the stored credentials match: same names and locations, and the same hint (first and
    /// last 4 characters of values of 20 characters or more). A changed value shorter than that
    /// cannot be seen from outside: the server never shows it.
    /// </summary>
    private static bool SameCredentials(List<CredentialSpec> desired, JsonArray? current)
    {
        static string Key(string location, string name, string hint) => $"{(location.Length == 0 ? "header" : location).ToLowerInvariant()}\n{name.ToLowerInvariant()}\n{hint}";
        var want = desired.Select(c => Key(c.Location ?? "", c.Name, Hint(c.Value))).Order(StringComparer.Ordinal);
        var have = (current ?? []).Select(c => Key(Output.Text(c?["location"]), Output.Text(c?["name"]), Output.Text(c?["valueHint"]))).Order(StringComparer.Ordinal);
        return want.SequenceEqual(have);
    }

    /// <summary>The catalog's masked hint of a secret (services/catalog ApiSecrets.Hint).</summary>
    public static string Hint(string value) =>
        value.Length >= 20 ? string.Concat(value.AsSpan(0, 4), "…", value.AsSpan(value.Length - 4)) : "••••";

    /// <summary>The update's policies: every part, those the file leaves out set to empty (back to the default).</summary>
    private static JsonObject PolicyUpdate(JsonObject desired)
    {
        var update = new JsonObject();
        foreach (var part in PolicyParts)
        {
            update[part] = desired[part]?.DeepClone() ?? (part == "protocol" ? "" : new JsonObject());
        }
        foreach (var (name, value) in desired.Where(p => !PolicyParts.Contains(p.Key)))
        {
            update[name] = value?.DeepClone();
        }
        return update;
    }

    /// <summary>The policy fields that differ, by path (lists named once, not per item).</summary>
    public static List<string> DiffPolicies(JsonObject desired, JsonObject? current)
    {
        var want = Flatten(Normalize(desired, ""));
        var have = Flatten(Normalize(current, ""));
        return want.Keys.Union(have.Keys)
            .Where(k => !want.TryGetValue(k, out var a) || !have.TryGetValue(k, out var b) || a != b)
            .Select(k => k.Split('[')[0])
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Policies without what means "the default": null, "", [] and {}, and 0 and false except in
    /// fields with presence. The server's JSON and a hand-written file then compare equal when
    /// they mean the same.
    /// </summary>
    public static JsonNode? Normalize(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject obj:
                var result = new JsonObject();
                foreach (var (key, value) in obj)
                {
                    var child = Normalize(value, path.Length == 0 ? key : $"{path}.{key}");
                    if (child is not null)
                    {
                        result[key] = child;
                    }
                }
                return result.Count == 0 ? null : result;
            case JsonArray array:
                var items = array.Select(i => Normalize(i, path) ?? new JsonObject()).ToArray();
                return items.Length == 0 ? null : new JsonArray(items);
            case JsonValue value:
                var kind = value.GetValueKind();
                if (kind == JsonValueKind.String && value.GetValue<string>().Length == 0)
                {
                    return null;
                }
                if (!PresenceFields.Contains(path) && (kind == JsonValueKind.False || (kind == JsonValueKind.Number && YamlJson.Canonical(value) == "0")))
                {
                    return null;
                }
                return value.DeepClone();
            default:
                return null;
        }
    }

    private static Dictionary<string, string> Flatten(JsonNode? node)
    {
        var leaves = new Dictionary<string, string>(StringComparer.Ordinal);
        void Walk(JsonNode? n, string path)
        {
            switch (n)
            {
                case JsonObject obj:
                    foreach (var (key, value) in obj)
                    {
                        Walk(value, path.Length == 0 ? key : $"{path}.{key}");
                    }
                    break;
                case JsonArray array:
                    leaves[path + "[]"] = array.Count.ToString(CultureInfo.InvariantCulture);
                    for (var i = 0; i < array.Count; i++)
                    {
                        Walk(array[i], $"{path}[{i}]");
                    }
                    break;
                default:
                    leaves[path] = YamlJson.Canonical(n);
                    break;
            }
        }
        Walk(node, "");
        return leaves;
    }
}
