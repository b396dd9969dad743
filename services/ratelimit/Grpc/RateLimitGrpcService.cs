using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.RateLimit.Data;
using Veil.RateLimit.V1;
using Veil.ServiceDefaults.Grpc;
using RpcStatus = Google.Rpc.Status;

namespace Veil.RateLimit.Grpc;

/// <summary>
/// Internal gRPC API of the bucket store (edge only, no REST binding). Validates every field,
/// then answers from the store chosen at start; a store that cannot answer in time becomes
/// UNAVAILABLE with an <c>ErrorInfo</c> naming the cause, so the edge can degrade at once.
/// </summary>
public sealed partial class RateLimitGrpcService(IBucketStore store, IOptions<RateLimitOptions> options, RateLimitMetrics metrics)
    : RateLimitService.RateLimitServiceBase
{
    /// <summary>Most buckets in one call.</summary>
    public const int MaxBucketsPerCall = 100;

    /// <summary>Longest bucket id.</summary>
    public const int MaxBucketLength = 200;

    // Keeps fractional levels exact to well below one token (doubles hold 53 bits).
    private const long MaxBurst = 1_000_000_000_000;
    private const double MaxRatePerSecond = 1_000_000_000;

    private readonly long _leaseTtlMs = (long)options.Value.LeaseTtl.TotalMilliseconds;

    public override async Task<AcquireLeaseResponse> AcquireLease(AcquireLeaseRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckCount(request.Leases, violations);
        var buckets = new BucketRequest[request.Leases.Count];
        for (var i = 0; i < request.Leases.Count; i++)
        {
            var lease = request.Leases[i];
            CheckLimits($"leases[{i}]", lease.Bucket, lease.RatePerSecond, lease.Burst, violations);
            CheckTokens($"leases[{i}].requested_tokens", lease.RequestedTokens, violations);
            buckets[i] = new BucketRequest(lease.Bucket, lease.RatePerSecond, lease.Burst, lease.RequestedTokens);
        }
        violations.ThrowIfAny();

        var batch = await DecideAsync(store.AcquireAsync, buckets, context.CancellationToken);
        var response = new AcquireLeaseResponse { ServerTimeUnixMs = batch.ServerTimeUnixMs };
        for (var i = 0; i < buckets.Length; i++)
        {
            var decision = batch.Decisions[i];
            metrics.Decision(store.Name, buckets[i].Tokens, decision.Granted);
            response.Results.Add(new LeaseResult
            {
                GrantedTokens = decision.Granted,
                LeaseTtlMs = _leaseTtlMs,
                TokensRemaining = decision.Remaining,
                RetryAfterMs = decision.RetryAfterMs,
            });
        }
        return response;
    }

    public override async Task<ReturnLeaseResponse> ReturnLease(ReturnLeaseRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckCount(request.Leases, violations);
        var buckets = new BucketRequest[request.Leases.Count];
        for (var i = 0; i < request.Leases.Count; i++)
        {
            var lease = request.Leases[i];
            CheckLimits($"leases[{i}]", lease.Bucket, lease.RatePerSecond, lease.Burst, violations);
            CheckTokens($"leases[{i}].tokens", lease.Tokens, violations);
            buckets[i] = new BucketRequest(lease.Bucket, lease.RatePerSecond, lease.Burst, lease.Tokens);
        }
        violations.ThrowIfAny();

        var batch = await DecideAsync(store.ReturnAsync, buckets, context.CancellationToken);
        var response = new ReturnLeaseResponse { ServerTimeUnixMs = batch.ServerTimeUnixMs };
        for (var i = 0; i < buckets.Length; i++)
        {
            metrics.Returned(store.Name, buckets[i].Tokens);
            response.Results.Add(new ReturnResult { TokensRemaining = batch.Decisions[i].Remaining });
        }
        return response;
    }

    private static async Task<BucketBatch> DecideAsync(
        Func<IReadOnlyList<BucketRequest>, CancellationToken, Task<BucketBatch>> decide, BucketRequest[] buckets, CancellationToken cancellationToken)
    {
        try
        {
            return await decide(buckets, cancellationToken);
        }
        catch (StoreUnavailableException ex)
        {
            throw new RpcStatus
            {
                Code = (int)Code.Unavailable,
                Message = $"The rate-limit store is unavailable ({ex.Cause}): {ex.Message} Use local limits.",
                Details =
                {
                    Any.Pack(new ErrorInfo
                    {
                        Reason = "RATE_LIMIT_STORE_UNAVAILABLE",
                        Domain = "ratelimit.veil.dev",
                        Metadata = { ["cause"] = ex.Cause },
                    }),
                },
            }.ToRpcException();
        }
    }

    private static void CheckCount<T>(RepeatedField<T> leases, FieldViolations violations)
    {
        if (leases.Count is 0 or > MaxBucketsPerCall)
        {
            violations.Add("leases", $"Between 1 and {MaxBucketsPerCall} buckets per call; got {leases.Count}.");
        }
    }

    private static void CheckLimits(string path, string bucket, double ratePerSecond, long burst, FieldViolations violations)
    {
        if (string.IsNullOrEmpty(bucket) || bucket.Length > MaxBucketLength)
        {
            violations.Add($"{path}.bucket", $"A bucket id of 1 to {MaxBucketLength} characters is required.");
        }
        // Written so that NaN fails too.
        if (!(ratePerSecond > 0 && ratePerSecond <= MaxRatePerSecond))
        {
            violations.Add($"{path}.rate_per_second", $"Must be greater than 0 and at most {MaxRatePerSecond:0}.");
        }
        if (burst is < 1 or > MaxBurst)
        {
            violations.Add($"{path}.burst", $"Must be between 1 and {MaxBurst}.");
        }
    }

    private static void CheckTokens(string path, long tokens, FieldViolations violations)
    {
        if (tokens is < 0 or > MaxBurst)
        {
            violations.Add(path, $"Must be between 0 and {MaxBurst}.");
        }
    }
}
