using System.Text.RegularExpressions;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// Enum values without their type prefix in REST query strings too (<c>?status=DRAFT</c>). The
/// transcoder's <c>RemoveEnumPrefix</c> covers JSON bodies and answers, but binds query parameters
/// by the proto names only (<c>INVOICE_STATUS_DRAFT</c>); so before it runs, a query value naming an
/// enum field's value without its prefix is given the prefix back. Values already in proto form
/// (and numbers) pass unchanged, so both spellings keep working.
/// </summary>
internal sealed partial class EnumQueryValues(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.QueryString.HasValue &&
            context.GetEndpoint()?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>() is { } transcoding)
        {
            var input = transcoding.MethodDescriptor.InputType;
            Dictionary<string, StringValues>? rewritten = null;
            foreach (var (key, values) in context.Request.Query)
            {
                if (EnumOf(input, key) is not { } enumType)
                {
                    continue;
                }
                var prefix = UpperSnake(enumType.Name) + "_";
                var names = values.Select(v => v is null || enumType.FindValueByName(v) is not null || enumType.FindValueByName(prefix + v) is null
                    ? v
                    : prefix + v).ToArray();
                if (!names.SequenceEqual(values))
                {
                    rewritten ??= context.Request.Query.ToDictionary(q => q.Key, q => q.Value, StringComparer.Ordinal);
                    rewritten[key] = names;
                }
            }
            if (rewritten is not null)
            {
                context.Request.Query = new QueryCollection(rewritten);
            }
        }
        return next(context);
    }

    /// <summary>The enum type of the (possibly dotted) field <paramref name="path"/>, by JSON or proto name; null otherwise.</summary>
    private static EnumDescriptor? EnumOf(MessageDescriptor message, string path)
    {
        FieldDescriptor? field = null;
        foreach (var segment in path.Split('.'))
        {
            if (field is not null)
            {
                if (field.FieldType != FieldType.Message)
                {
                    return null;
                }
                message = field.MessageType;
            }
            field = message.Fields.InDeclarationOrder().FirstOrDefault(f => f.JsonName == segment || f.Name == segment);
            if (field is null)
            {
                return null;
            }
        }
        return field?.FieldType == FieldType.Enum ? field.EnumType : null;
    }

    /// <summary><c>InvoiceStatus</c> → <c>INVOICE_STATUS</c>, the prefix protobuf style gives its values.</summary>
    private static string UpperSnake(string name) => WordStart().Replace(name, "_$1").ToUpperInvariant();

    [GeneratedRegex("(?<=[a-z0-9])([A-Z])")]
    private static partial Regex WordStart();
}
