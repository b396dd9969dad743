using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Veil.Catalog.V1;

namespace Veil.Catalog.Data;

/// <summary>
/// How a version's releases (docs/catalog.md, "Releases") are stored: a JSON array of
/// <see cref="ApiRelease"/> in protobuf JSON with default values left out, ordered by number, so
/// equal releases are equal strings (a change that changes nothing makes no version). Release v1 is
/// the version's own configuration: it is stored only for its state (when deprecated), never with an
/// upstream or policies of its own.
/// </summary>
public static class StoredReleases
{
    /// <summary>No releases but v1 (active).</summary>
    public const string None = "[]";

    /// <summary>The release an API's own configuration is, and where a call without a release goes.</summary>
    public const string Default = "v1";

    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default);

    // A newer catalog may have stored fields this one does not know: read what it knows.
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>The stored releases of a version (v1 only when stored for its state).</summary>
    public static List<ApiRelease> Read(string json)
    {
        var releases = new List<ApiRelease>();
        if (json is None or "")
        {
            return releases;
        }
        using var document = JsonDocument.Parse(json);
        foreach (var item in document.RootElement.EnumerateArray())
        {
            releases.Add(Parser.Parse<ApiRelease>(item.GetRawText()));
        }
        return releases;
    }

    /// <summary>
    /// The stored form of <paramref name="releases"/>: ordered by number, policies normalized, v1
    /// kept only while deprecated and without an upstream or policies (they are the version's own).
    /// </summary>
    public static string Write(IEnumerable<ApiRelease> releases)
    {
        var kept = new List<ApiRelease>();
        foreach (var release in releases.OrderBy(r => Number(r.Name)))
        {
            var stored = release.Clone();
            if (stored.State == ApiReleaseState.Active)
            {
                stored.State = ApiReleaseState.Unspecified; // the default: stored as absent
            }
            if (stored.Name == Default)
            {
                if (stored.State != ApiReleaseState.Deprecated)
                {
                    continue;
                }
                stored.UpstreamUrl = "";
                stored.Policies = null;
            }
            else if (stored.Policies is { } policies && StoredPolicies.Write(StoredPolicies.Normalize(policies)) == StoredPolicies.None)
            {
                stored.Policies = null;
            }
            kept.Add(stored);
        }
        if (kept.Count == 0)
        {
            return None;
        }
        var json = new StringBuilder("[");
        foreach (var release in kept)
        {
            json.Append(json.Length > 1 ? "," : "").Append(Formatter.Format(release));
        }
        return json.Append(']').ToString();
    }

    /// <summary>
    /// Every release of a version as readers see it, v1 first: v1 shows the version's own upstream
    /// and policies. With <paramref name="visible"/> false (not the owner or an admin) no release
    /// shows an upstream or policies.
    /// </summary>
    public static List<ApiRelease> View(ApiConfig config, bool visible)
    {
        var all = WithDefault(Read(config.Releases));
        foreach (var release in all)
        {
            if (!visible)
            {
                release.UpstreamUrl = "";
                release.Policies = null;
            }
            else if (release.Name == Default)
            {
                release.UpstreamUrl = config.UpstreamUrl;
                release.Policies = StoredPolicies.Read(config.Policies);
            }
            else
            {
                release.Policies ??= new ApiPolicies();
            }
        }
        return all;
    }

    /// <summary>
    /// Every release for the edges, v1 first (its upstream and policies empty: the route's own);
    /// none when v1 is the only release and active (the edge's default: most APIs send nothing).
    /// </summary>
    public static List<ApiRelease> ForGateway(string json) => json is None or "" ? [] : WithDefault(Read(json));

    /// <summary>The names of every release, v1 first.</summary>
    public static IEnumerable<string> Names(string json) => WithDefault(Read(json)).Select(r => r.Name);

    /// <summary>
    /// The number of a release name ("v2" → 2), or null when <paramref name="name"/> is not one:
    /// "v" and 1 to 999999 without leading zeros.
    /// </summary>
    public static int? Number(string name) =>
        name.Length is >= 2 and <= 7 && name[0] == 'v' && name[1] != '0' && name.AsSpan(1).IndexOfAnyExceptInRange('0', '9') < 0 &&
        int.TryParse(name.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    private static List<ApiRelease> WithDefault(List<ApiRelease> stored)
    {
        var all = new List<ApiRelease>(stored.Count + 1);
        all.Add(stored.FirstOrDefault(r => r.Name == Default)?.Clone() ?? new ApiRelease { Name = Default });
        all.AddRange(stored.Where(r => r.Name != Default));
        foreach (var release in all)
        {
            if (release.State == ApiReleaseState.Unspecified)
            {
                release.State = ApiReleaseState.Active;
            }
        }
        return all;
    }
}
