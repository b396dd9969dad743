using Grpc.Core;
using Grpc.Net.Client.Configuration;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>The one client retry policy of the fleet (see <c>VeilGrpcClientExtensions.RetryUnavailable</c>).</summary>
public static class VeilGrpcRetry
{
    /// <summary>Attempts in all, the first included, unless a client asks for fewer.</summary>
    public const int DefaultMaxAttempts = 3;

    /// <summary>A service config retrying <c>Unavailable</c> on every method: 100 ms, ×2, at most 500 ms apart.</summary>
    public static ServiceConfig Unavailable(int maxAttempts = DefaultMaxAttempts) => new()
    {
        MethodConfigs =
        {
            new MethodConfig
            {
                Names = { MethodName.Default },
                RetryPolicy = new RetryPolicy
                {
                    MaxAttempts = maxAttempts,
                    InitialBackoff = TimeSpan.FromMilliseconds(100),
                    MaxBackoff = TimeSpan.FromMilliseconds(500),
                    BackoffMultiplier = 2,
                    RetryableStatusCodes = { StatusCode.Unavailable },
                },
            },
        },
    };
}
