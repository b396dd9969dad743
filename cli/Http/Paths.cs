using System.Text.Json.Nodes;

namespace Veil.Cli.Http;

/// <summary>Building request paths and reading every page of a list.</summary>
public static class Paths
{
    /// <summary>One path segment, escaped (ids, slugs and names come from the user).</summary>
    public static string Segment(string value) => Uri.EscapeDataString(value);

    /// <summary>A query string of the non-empty values, or "".</summary>
    public static string Query(params (string Name, string? Value)[] parameters)
    {
        var set = parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return set.Count == 0 ? "" : "?" + string.Join('&', set);
    }

    /// <summary>Every item of a paged list (following nextPageToken), as one array.</summary>
    public static async Task<JsonArray> AllAsync(VeilClient client, string path, string items, CancellationToken ct)
    {
        var all = new JsonArray();
        var token = "";
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        do
        {
            var page = await client.GetAsync(token.Length == 0 ? path : $"{path}{separator}pageToken={Uri.EscapeDataString(token)}", ct);
            if (page[items] is JsonArray array)
            {
                foreach (var item in array.ToList())
                {
                    array.Remove(item);
                    all.Add(item);
                }
            }
            token = page["nextPageToken"]?.GetValue<string>() ?? "";
        }
        while (token.Length > 0);
        return all;
    }
}

/// <summary>
/// Routes that came with issue 15 (lifecycle, plan editing, releases, import). A server without
/// one answers 405 (the path exists for other methods) or a 404 with no problem detail (no such
/// path); both become one clear sentence instead of a bare status. A 404 with a detail is a real
/// "not found" and passes through.
/// </summary>
public static class NewRoutes
{
    public static async Task<T> CallAsync<T>(Func<Task<T>> call, VeilClient client, string method, string path, string cannot, string instead)
    {
        try
        {
            return await call();
        }
        catch (VeilApiException e) when (e.Status is 405 || (e.Status is 404 && e.Detail is null && e.FieldErrors.Count == 0))
        {
            throw new CommandFailedException($"{client.Server} cannot {cannot} ({method} /{path.Split('?')[0]} answered {e.Status}): {instead}");
        }
    }
}
