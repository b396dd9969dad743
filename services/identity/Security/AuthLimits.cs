using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Threading.RateLimiting;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Security;

/// <summary>
/// What keeps the auth endpoints from being used at full speed: token buckets per client address
/// and per email, the sign-in back-off rule, and the cap on concurrent password hashing. The
/// buckets are in memory and per replica (partitions idle for 10 s are dropped by
/// <see cref="PartitionedRateLimiter"/>, which bounds memory); the back-off is in the database.
/// </summary>
internal sealed class AuthLimits : IDisposable
{
    private readonly AuthLimitOptions _options;
    private readonly PartitionedRateLimiter<string> _perAddress;
    private readonly PartitionedRateLimiter<string> _perAccount;
    private readonly ConcurrencyLimiter _hashing;
    private readonly IdentityMetrics _metrics;

    public AuthLimits(IOptions<AuthLimitOptions> options, IdentityMetrics metrics)
    {
        _metrics = metrics;
        _options = options.Value;
        _perAddress = Buckets(_options.PerAddressPermitLimit, _options.PerAddressWindow);
        _perAccount = Buckets(_options.PerAccountPermitLimit, _options.PerAccountWindow);
        HashSlots = _options.MaxConcurrentHashes > 0 ? _options.MaxConcurrentHashes : Math.Max(1, Environment.ProcessorCount / 2);
        _hashing = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = HashSlots,
            QueueLimit = _options.HashQueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>How many password hashes run at once.</summary>
    public int HashSlots { get; }

    /// <summary>Takes one call from the caller's address bucket, or throws <c>ResourceExhausted</c> with the wait.</summary>
    public void ThrottleAddress(ServerCallContext context)
    {
        using var lease = _perAddress.AttemptAcquire(ClientAddress(context.GetHttpContext()));
        if (!lease.IsAcquired)
        {
            _metrics.Throttled("address");
            Refuse(lease, "Too many sign-in, sign-up or session requests from this address");
        }
    }

    /// <summary>Takes one attempt from the email's bucket, or throws <c>ResourceExhausted</c> with the wait.</summary>
    public void ThrottleAccount(string normalizedEmail)
    {
        using var lease = _perAccount.AttemptAcquire(normalizedEmail);
        if (!lease.IsAcquired)
        {
            _metrics.Throttled("account");
            Refuse(lease, "Too many attempts for this account");
        }
    }

    /// <summary>
    /// How long sign-in must still wait after <paramref name="failures"/> failures in a row, the last
    /// at <paramref name="lastFailedAt"/>: nothing for the first <c>BackoffFreeFailures</c>, then
    /// <c>BackoffBaseDelay</c> doubling with each further failure, never above <c>BackoffMaxDelay</c>.
    /// </summary>
    public TimeSpan BackoffRemaining(int failures, DateTimeOffset? lastFailedAt, DateTimeOffset now)
    {
        if (lastFailedAt is not { } last || failures < _options.BackoffFreeFailures)
        {
            return TimeSpan.Zero;
        }
        var doublings = Math.Min(failures - _options.BackoffFreeFailures, 30);
        var delay = TimeSpan.FromTicks(Math.Min(_options.BackoffBaseDelay.Ticks * (1L << doublings), _options.BackoffMaxDelay.Ticks));
        var remaining = last + delay - now;
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    /// <summary>
    /// Runs <paramref name="hash"/> (a PBKDF2 computation) in one of the <see cref="HashSlots"/>,
    /// waiting in a bounded queue; when the queue is full the call is refused at once with
    /// <c>ResourceExhausted</c>, so a sign-in flood never takes more than these threads.
    /// </summary>
    public async Task<T> HashAsync<T>(Func<T> hash, CancellationToken cancellationToken)
    {
        using var lease = await _hashing.AcquireAsync(1, cancellationToken);
        if (!lease.IsAcquired)
        {
            _metrics.Throttled("hashing");
            throw RpcErrors.ResourceExhausted("Identity is busy checking passwords; retry shortly.", TimeSpan.FromSeconds(1));
        }
        return hash();
    }

    /// <summary>
    /// The client's address: the last <c>X-Forwarded-For</c> entry when the direct peer is on a
    /// private network (the edge, which drops client-sent X-Forwarded-* and appends the address it
    /// saw), else the direct peer. A public peer cannot choose its bucket by sending the header.
    /// </summary>
    internal static string ClientAddress(HttpContext http)
    {
        var peer = http.Connection.RemoteIpAddress;
        if (peer is not null && PrivateNetworks.IsPrivate(peer))
        {
            var forwarded = http.Request.Headers["X-Forwarded-For"].ToString();
            var last = forwarded[(forwarded.LastIndexOf(',') + 1)..].Trim();
            if (IPAddress.TryParse(last, out var client))
            {
                return Normalize(client);
            }
        }
        return peer is null ? "unknown" : Normalize(peer);
    }

    public void Dispose()
    {
        _perAddress.Dispose();
        _perAccount.Dispose();
        _hashing.Dispose();
    }

    private static string Normalize(IPAddress address) =>
        (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    [DoesNotReturn]
    private static void Refuse(RateLimitLease lease, string what)
    {
        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        throw RpcErrors.ResourceExhausted($"{what}; retry in {Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))} s.", retryAfter);
    }

    // A bucket of `limit` calls refilled evenly over `window`; replenished by the partitioned
    // limiter's own timer (no timer per partition).
    private static PartitionedRateLimiter<string> Buckets(int limit, TimeSpan window) =>
        PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromTicks(Math.Max(1, window.Ticks / limit)),
            QueueLimit = 0,
            AutoReplenishment = false,
        }));
}
