using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace Veil.Edge.Calls;

/// <summary>
/// A ready-made <c>application/problem+json</c> answer: the body is serialized once. The title is
/// the status's reason phrase unless <paramref name="title"/> names the problem. To a gRPC caller
/// the same problem is a <see cref="GrpcStatus"/> with the detail as <see cref="GrpcMessage"/>.
/// </summary>
internal sealed class Problem(int status, string detail, string? type = null, string? title = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private string? _grpcMessage;

    public int Status { get; } = status;

    public byte[] Body { get; } = JsonSerializer.SerializeToUtf8Bytes(new ProblemDetails
    {
        Type = type ?? $"https://veil.dev/problems/{status}",
        Title = title ?? ReasonPhrases.GetReasonPhrase(status),
        Status = status,
        Detail = detail,
    }, Json);

    /// <summary>The <c>grpc-status</c> of this problem (docs/grpc-and-http2.md, "Errors the edge answers").</summary>
    public string GrpcStatus { get; } = GrpcStatusOf(status);

    /// <summary>The <c>grpc-message</c>: the detail, percent-encoded as the gRPC protocol requires.</summary>
    public string GrpcMessage => _grpcMessage ??= PercentEncode(detail);

    /// <summary>The HTTP status the edge decided, as a gRPC status code (the gRPC spec's mapping, with 504 a deadline).</summary>
    internal static string GrpcStatusOf(int status) => status switch
    {
        StatusCodes.Status401Unauthorized => "16",        // UNAUTHENTICATED
        StatusCodes.Status403Forbidden => "7",            // PERMISSION_DENIED
        StatusCodes.Status429TooManyRequests
            or StatusCodes.Status413PayloadTooLarge => "8", // RESOURCE_EXHAUSTED
        StatusCodes.Status404NotFound
            or StatusCodes.Status405MethodNotAllowed
            or StatusCodes.Status410Gone => "12",         // UNIMPLEMENTED
        StatusCodes.Status502BadGateway
            or StatusCodes.Status503ServiceUnavailable => "14", // UNAVAILABLE
        StatusCodes.Status504GatewayTimeout => "4",       // DEADLINE_EXCEEDED
        StatusCodes.Status400BadRequest => "13",          // INTERNAL
        _ => "2",                                         // UNKNOWN
    };

    /// <summary>grpc-message encoding: UTF-8, with bytes outside printable ASCII and '%' as %XX.</summary>
    internal static string PercentEncode(string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message);
        var builder = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            if (b is >= 0x20 and <= 0x7E and not (byte)'%')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return builder.ToString();
    }
}
