using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Veil.Catalog.V1;

namespace Veil.Catalog.Grpc;

/// <summary>
/// Field-by-field differences between two versions of an API, as the owner reads them (secrets
/// already masked). Version bookkeeping (version number, times, etag) is not a difference; OpenAPI
/// documents are compared but shown by length.
/// </summary>
internal static class ApiDiff
{
    private static readonly HashSet<string> Bookkeeping = ["current_version", "create_time", "update_time", "etag"];

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
