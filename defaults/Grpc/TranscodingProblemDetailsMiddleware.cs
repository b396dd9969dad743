using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// The one place where REST callers' errors get their shape. gRPC JSON transcoding already maps the
/// gRPC status to the HTTP status (InvalidArgument → 400, NotFound → 404, AlreadyExists → 409, …)
/// and writes a <c>google.rpc.Status</c> body; this middleware rewrites that body, or an empty error
/// body (authentication challenges), as <c>application/problem+json</c>, lifting
/// <c>BadRequest.FieldViolations</c> into <c>errors: { field: [messages] }</c> and a
/// <c>RetryInfo</c> (429) into the <c>Retry-After</c> header and <c>retryAfterSeconds</c>.
/// Only REST requests under <c>/v1/</c> are touched; gRPC calls stream through untouched, and so
/// do successful REST responses: only a response whose status is an error when its body starts is
/// held back (<see cref="ErrorBufferingStream"/>).
/// </summary>
public sealed class TranscodingProblemDetailsMiddleware(RequestDelegate next)
{
    /// <summary>Runs the rest of the pipeline and rewrites error bodies.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1") ||
            context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            await next(context);
            return;
        }

        var original = context.Response.Body;
        // Only error bodies are held back, to be rewritten: a success streams straight through.
        await using var body = new ErrorBufferingStream(context.Response, original);
        context.Response.Body = body;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        if (context.Response.StatusCode < 400 || context.Response.HasStarted)
        {
            // A success, or an error whose response was already under way (nothing to rewrite).
            return;
        }

        var problem = ToProblem(context.Response.StatusCode, body.ErrorBody);
        context.Response.StatusCode = problem.Status ?? context.Response.StatusCode;
        if (problem.Extensions.TryGetValue(RetryAfterExtension, out var retryAfter) && retryAfter is long seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        context.Response.ContentLength = null;
        context.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(original, problem, ProblemJson.Options, context.RequestAborted);
    }

    private const string RetryAfterExtension = "retryAfterSeconds";

    internal static ProblemDetails ToProblem(int status, byte[] body)
    {
        var problem = new ProblemDetails
        {
            Status = status,
            Title = ReasonPhrases.GetReasonPhrase(status),
            Type = $"https://veil.dev/problems/{status}",
        };
        if (status == StatusCodes.Status401Unauthorized)
        {
            problem.Detail = "A valid access token is required (Authorization: Bearer <token>).";
        }
        else if (status == StatusCodes.Status403Forbidden)
        {
            problem.Detail = "The caller is not allowed to do this.";
        }

        if (body.Length == 0)
        {
            return problem;
        }
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return problem;
            }
            if (root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
            {
                problem.Detail = message.GetString();
            }
            var errors = new Dictionary<string, List<string>>();
            var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array)
            {
                foreach (var detail in details.EnumerateArray())
                {
                    if (detail.ValueKind == JsonValueKind.Object && RetryDelaySeconds(detail) is { } retrySeconds)
                    {
                        problem.Extensions[RetryAfterExtension] = retrySeconds;
                    }
                    if (detail.ValueKind == JsonValueKind.Object && StatusOfReason(detail) is { } reasonStatus)
                    {
                        problem.Status = reasonStatus;
                        problem.Title = ReasonPhrases.GetReasonPhrase(reasonStatus);
                        problem.Type = $"https://veil.dev/problems/{reasonStatus}";
                    }
                    if (!detail.TryGetProperty("fieldViolations", out var violations) || violations.ValueKind != JsonValueKind.Array)
                    {
                        continue;
                    }
                    foreach (var violation in violations.EnumerateArray())
                    {
                        var protoField = violation.TryGetProperty("field", out var f) ? f.GetString() ?? "" : "";
                        var field = CamelCasePath(protoField);
                        if (field != protoField)
                        {
                            renamed[protoField] = field;
                        }
                        var description = violation.TryGetProperty("description", out var d) ? d.GetString() ?? "" : "";
                        if (!errors.TryGetValue(field, out var list))
                        {
                            errors[field] = list = [];
                        }
                        list.Add(description);
                    }
                }
            }
            if (errors.Count > 0)
            {
                problem.Extensions["errors"] = errors;
            }
            // The detail names the fields as the errors do ("…invalid fields: displayName.").
            foreach (var (protoField, field) in renamed.OrderByDescending(r => r.Key.Length))
            {
                problem.Detail = problem.Detail?.Replace(protoField, field, StringComparison.Ordinal);
            }
        }
        catch (JsonException)
        {
            // Not a google.rpc.Status body (e.g. a framework error page): keep the generic problem.
        }
        return problem;
    }

    /// <summary>
    /// A field path as REST callers spell it: each segment in camelCase, as in JSON bodies
    /// (<c>policies.health_check.interval_ms</c> → <c>policies.healthCheck.intervalMs</c>,
    /// <c>targets.items[0].url</c> unchanged). gRPC callers keep the proto paths.
    /// </summary>
    internal static string CamelCasePath(string field)
    {
        if (!field.Contains('_', StringComparison.Ordinal))
        {
            return field;
        }
        var result = new System.Text.StringBuilder(field.Length);
        var upper = false;
        foreach (var c in field)
        {
            if (c == '_')
            {
                upper = result.Length > 0 && result[^1] is not ('.' or '[');
                if (!upper)
                {
                    result.Append(c);
                }
                continue;
            }
            result.Append(upper ? char.ToUpperInvariant(c) : c);
            upper = false;
        }
        return result.ToString();
    }

    /// <summary>HTTP statuses for Veil's <c>google.rpc.ErrorInfo</c> reasons that no gRPC code maps to.</summary>
    private static int? StatusOfReason(JsonElement detail) =>
        detail.TryGetProperty("@type", out var type) && type.ValueKind == JsonValueKind.String &&
        type.GetString()?.EndsWith("/google.rpc.ErrorInfo", StringComparison.Ordinal) == true &&
        detail.TryGetProperty("reason", out var reason) && reason.ValueKind == JsonValueKind.String
            ? reason.GetString() switch
            {
                RpcErrors.IdempotencyKeyReusedReason => StatusCodes.Status422UnprocessableEntity,
                _ => null,
            }
            : null;

    /// <summary>
    /// A <c>google.rpc.RetryInfo</c>'s delay in whole seconds, rounded up (at least 1), from its JSON
    /// form <c>{"@type": "…/google.rpc.RetryInfo", "retryDelay": "1.500s"}</c>; null for other details.
    /// </summary>
    private static long? RetryDelaySeconds(JsonElement detail)
    {
        if (!detail.TryGetProperty("@type", out var type) || type.ValueKind != JsonValueKind.String ||
            type.GetString()?.EndsWith("/google.rpc.RetryInfo", StringComparison.Ordinal) != true ||
            !detail.TryGetProperty("retryDelay", out var delay) || delay.ValueKind != JsonValueKind.String ||
            delay.GetString() is not { } text || !text.EndsWith('s') ||
            !decimal.TryParse(text.AsSpan(0, text.Length - 1), System.Globalization.NumberStyles.AllowDecimalPoint,
                System.Globalization.CultureInfo.InvariantCulture, out var seconds))
        {
            return null;
        }
        return Math.Max(1, (long)Math.Ceiling(seconds));
    }
}

internal static class ProblemJson
{
    // Relaxed escaping: problem+json is never embedded in HTML, and "'" should read as "'".
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

/// <summary>
/// The response body while a REST call runs: on the first write it looks at the status. Below 400
/// every byte goes straight to the real body (nothing is held: a large list streams to the
/// client as it is written); from 400 the body is kept, up to <see cref="MaxErrorBody"/>, for the
/// middleware to rewrite as a problem.
/// </summary>
internal sealed class ErrorBufferingStream(HttpResponse response, Stream inner) : Stream
{
    /// <summary>A google.rpc.Status is small; anything past this is dropped (the problem stays generic).</summary>
    internal const int MaxErrorBody = 64 * 1024;

    private MemoryStream? _error;
    private bool _decided;

    /// <summary>The error body written so far (empty for a success).</summary>
    public byte[] ErrorBody => _error?.ToArray() ?? [];

    private bool Buffering
    {
        get
        {
            if (!_decided)
            {
                _decided = true;
                if (response.StatusCode >= 400)
                {
                    _error = new MemoryStream();
                }
            }
            return _error is not null;
        }
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Buffering)
        {
            Keep(buffer);
        }
        else
        {
            inner.Write(buffer);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Buffering)
        {
            Keep(buffer.Span);
            return ValueTask.CompletedTask;
        }
        return inner.WriteAsync(buffer, cancellationToken);
    }

    public override void Flush()
    {
        if (!Buffering)
        {
            inner.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        Buffering ? Task.CompletedTask : inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    private void Keep(ReadOnlySpan<byte> buffer)
    {
        var room = MaxErrorBody - (int)_error!.Length;
        _error.Write(buffer[..Math.Min(room, buffer.Length)]);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _error?.Dispose();
        }
        base.Dispose(disposing);
    }
}
