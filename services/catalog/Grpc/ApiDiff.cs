using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Veil.Catalog.Data;
using Veil.Catalog.V1;

namespace Veil.Catalog.Grpc;

/// <summary>
/// Field-by-field differences between two versions of an API, as the owner reads them (secrets
/// already masked). Version bookkeeping (version number, times, etag) and the lifecycle are not differences; OpenAPI
/// documents are compared but shown by length.
/// </summary>
internal static class ApiDiff
{
    // The lifecycle (state, deprecation, sunset) is not part of any version, and the etag is
    // bookkeeping: never a difference.
    private static readonly HashSet<string> Bookkeeping = ["current_version", "create_time", "update_time", "etag",
        "state", "deprecate_time", "sunset_time", "deprecation_link"];

    public static List<ApiFieldChange> Between(Api before, Api after)
    {
        var changes = new List<ApiFieldChange>();
        Compare(before, after, "", changes);
        return changes;
    }

    private static void Compare(IMessage? before, IMessage? after, string prefix, List<ApiFieldChange> changes)
    {
        var descriptor = (before ?? after)!.Descriptor;
        foreach (var field in descriptor.Fields.InDeclarationOrder())
        {
            var name = prefix + field.Name;
            if (prefix.Length == 0 && Bookkeeping.Contains(field.Name))
            {
                continue;
            }
            if (prefix.Length == 0 && field.FieldNumber == Api.ReleasesFieldNumber)
            {
                CompareReleases(((Api?)before)?.Releases, ((Api?)after)?.Releases, changes);
                continue;
            }
            var a = before is null ? null : field.Accessor.GetValue(before);
            var b = after is null ? null : field.Accessor.GetValue(after);
            var nested = field.FieldType == FieldType.Message && !field.IsRepeated && !field.IsMap
                && field.MessageType.File.Package == descriptor.File.Package;
            if (nested && (a is not null || b is not null))
            {
                Compare(a as IMessage, b as IMessage, name + ".", changes);
                continue;
            }
            var (left, right) = (Render(a), Render(b));
            if (left != right)
            {
                changes.Add(name == "openapi_document"
                    ? new ApiFieldChange { Field = name, Before = Length(a), After = Length(b) }
                    : new ApiFieldChange { Field = name, Before = left, After = right });
            }
        }
    }

    /// <summary>
    /// Releases by name, each as <c>releases[v2]</c>: added or removed as a whole, else field by
    /// field (<c>releases[v2].upstream_url</c>). v1's upstream and policies are the API's own,
    /// already compared as <c>upstream_url</c> and <c>policies</c>.
    /// </summary>
    private static void CompareReleases(IList<ApiRelease>? before, IList<ApiRelease>? after, List<ApiFieldChange> changes)
    {
        var names = (before ?? []).Concat(after ?? []).Select(r => r.Name).Distinct()
            .OrderBy(n => StoredReleases.Number(n) ?? int.MaxValue).ThenBy(n => n, StringComparer.Ordinal);
        foreach (var name in names)
        {
            var a = WithoutOwnConfig(before?.FirstOrDefault(r => r.Name == name));
            var b = WithoutOwnConfig(after?.FirstOrDefault(r => r.Name == name));
            if (a is null || b is null)
            {
                changes.Add(new ApiFieldChange { Field = $"releases[{name}]", Before = Render(a), After = Render(b) });
            }
            else
            {
                Compare(a, b, $"releases[{name}].", changes);
            }
        }
    }

    private static ApiRelease? WithoutOwnConfig(ApiRelease? release)
    {
        if (release?.Name != StoredReleases.Default)
        {
            return release;
        }
        var copy = release.Clone();
        copy.UpstreamUrl = "";
        copy.Policies = null;
        return copy;
    }

    private static string Length(object? document) =>
        document is string { Length: > 0 } text ? $"({text.Length.ToString(CultureInfo.InvariantCulture)} characters)" : "";

    private static string Render(object? value) => value switch
    {
        null => "",
        IMessage message => JsonFormatter.Default.Format(message),
        string text => text.Length == 0 ? "" : System.Text.Json.JsonSerializer.Serialize(text),
        bool flag => flag ? "true" : "",
        System.Collections.IEnumerable items => RenderList(items),
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture) is var text && text != "0" ? text : "",
        _ => value.ToString() ?? "",
    };

    private static string RenderList(System.Collections.IEnumerable items)
    {
        var rendered = items.Cast<object>().Select(Render).ToList();
        return rendered.Count == 0 ? "" : "[" + string.Join(",", rendered) + "]";
    }
}
