using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using RpcStatus = Google.Rpc.Status;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// gRPC errors with specific status codes. REST callers see the same errors as ProblemDetails
/// with the mapped HTTP status (see <see cref="TranscodingProblemDetailsMiddleware"/>).
/// </summary>
public static class RpcErrors
{
    /// <summary>404: the resource does not exist or the caller may not see it (never 403, which would leak existence).</summary>
    public static RpcException NotFound(string what) => Create(StatusCode.NotFound, what);

    /// <summary>409: a unique value is taken.</summary>
    public static RpcException AlreadyExists(string message) => Create(StatusCode.AlreadyExists, message);

    /// <summary>403: authenticated, but the role or scope does not allow this.</summary>
    public static RpcException PermissionDenied(string message) => Create(StatusCode.PermissionDenied, message);

    /// <summary>401: no valid credentials.</summary>
    public static RpcException Unauthenticated(string message = "A valid access token is required (Authorization: Bearer <token>).") =>
        Create(StatusCode.Unauthenticated, message);

    /// <summary>
    /// 409 (Aborted): the resource's state conflicts with the request (e.g. an API lifecycle
    /// transition its state does not allow); the message names the state and what to do.
    /// </summary>
    public static RpcException Conflict(string message) => Create(StatusCode.Aborted, message);

    /// <summary>400 (FailedPrecondition): the request is valid but the resource's state forbids it.</summary>
    public static RpcException FailedPrecondition(string message) => Create(StatusCode.FailedPrecondition, message);

    /// <summary>
    /// 409 (Aborted): the request raced another change, e.g. a stale <c>etag</c> (see <see cref="Etags"/>)
    /// or a duplicate of a request still in flight. Read again, then retry.
    /// </summary>
    public static RpcException Aborted(string message) => Create(StatusCode.Aborted, message);

    /// <summary>The <c>google.rpc.ErrorInfo</c> reason of <see cref="IdempotencyKeyReused"/>.</summary>
    public const string IdempotencyKeyReusedReason = "IDEMPOTENCY_KEY_REUSED";

    /// <summary>The <c>google.rpc.ErrorInfo</c> domain of Veil's own reasons.</summary>
    public const string Domain = "veil.dev";

    /// <summary>
    /// An <c>Idempotency-Key</c> came back with a different request: <c>InvalidArgument</c> for gRPC
    /// callers, carrying <c>ErrorInfo</c> <see cref="IdempotencyKeyReusedReason"/>, which REST
    /// answers as 422 (<see cref="TranscodingProblemDetailsMiddleware"/>).
    /// </summary>
    public static RpcException IdempotencyKeyReused(string message) =>
        new RpcStatus
        {
            Code = (int)StatusCode.InvalidArgument,
            Message = message,
            Details = { Any.Pack(new ErrorInfo { Reason = IdempotencyKeyReusedReason, Domain = Domain }) },
        }.ToRpcException();

    /// <summary>
    /// 429: a limit was reached; the call may succeed after <paramref name="retryAfter"/>, carried as a
    /// <c>google.rpc.RetryInfo</c> detail (REST: the <c>Retry-After</c> header, whole seconds rounded up).
    /// </summary>
    public static RpcException ResourceExhausted(string message, TimeSpan retryAfter) =>
        new RpcStatus
        {
            Code = (int)StatusCode.ResourceExhausted,
            Message = message,
            Details = { Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter) }) },
        }.ToRpcException();

    /// <summary>400: one field is wrong.</summary>
    public static RpcException InvalidArgument(string field, string description) =>
        new FieldViolations().Add(field, description).ToException();

    private static RpcException Create(StatusCode code, string message) =>
        new RpcStatus { Code = (int)code, Message = message }.ToRpcException();
}

/// <summary>
/// Collects field-level validation errors and throws one <c>InvalidArgument</c> carrying a
/// <c>google.rpc.BadRequest</c> with every violation (rich error model).
/// </summary>
public sealed class FieldViolations
{
    private readonly BadRequest _badRequest = new();

    /// <summary>True when nothing has been added.</summary>
    public bool IsEmpty => _badRequest.FieldViolations.Count == 0;

    /// <summary>What has been recorded so far, in order (to restate one rule's findings under another field).</summary>
    public IReadOnlyList<BadRequest.Types.FieldViolation> Items => _badRequest.FieldViolations;

    /// <summary>Records that <paramref name="field"/> (the JSON/proto field name) is wrong and why.</summary>
    public FieldViolations Add(string field, string description)
    {
        _badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = description });
        return this;
    }

    /// <summary>Throws when any violation was recorded.</summary>
    public void ThrowIfAny()
    {
        if (!IsEmpty)
        {
            throw ToException();
        }
    }

    /// <summary>The <c>InvalidArgument</c> exception for the recorded violations.</summary>
    public RpcException ToException()
    {
        var fields = string.Join(", ", _badRequest.FieldViolations.Select(v => v.Field).Distinct());
        return new RpcStatus
        {
            Code = (int)StatusCode.InvalidArgument,
            Message = $"The request has invalid fields: {fields}.",
            Details = { Any.Pack(_badRequest) },
        }.ToRpcException();
    }
}
