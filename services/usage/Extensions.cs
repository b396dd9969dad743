using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;
using Veil.Usage.Data;
using Veil.Usage.Grpc;
using Veil.Usage.Webhooks;

namespace Veil.Usage;

internal static class Extensions
{
    /// <summary>
    /// Usage's own registrations: validated options, the store, the background rollup and
    /// retention workers, quota-state feed, webhook dispatcher, key-expiry notifier (with its
    /// identity client), metrics, and the sealing of webhook secrets at rest.
    /// </summary>
    public static IHostApplicationBuilder AddUsageServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<UsageOptions>()
            .BindConfiguration(UsageOptions.SectionName)
            .Validate(o => o.Webhooks.MaxBackoff >= o.Webhooks.InitialBackoff,
                "Usage:Webhooks:MaxBackoff must not be shorter than Usage:Webhooks:InitialBackoff.")
            // Deleting an id younger than the window would let a replay of it count again.
            .Validate(o => !o.Retention.Enabled || o.Retention.RawEvents >= o.DedupWindow,
                "Usage:Retention:RawEvents must not be shorter than Usage:DedupWindow.")
            .Validate(o => !o.Retention.Enabled || o.Retention.RawEvents >= o.Retention.MinimumRawEvents,
                "Usage:Retention:RawEvents must be at least Usage:Retention:ReconciliationLookback + 32 days (billing recounts cycles from the raw events).")
            // The call log lists events joined with their call rows: it cannot outlive the events.
            .Validate(o => !o.Retention.Enabled || o.Retention.CallLog <= o.Retention.RawEvents,
                "Usage:Retention:CallLog must not be longer than Usage:Retention:RawEvents.")
            // Passes further apart than the lead could let a key expire between two of them unnoticed.
            .Validate(o => !o.KeyExpiryNotices.Enabled || o.KeyExpiryNotices.Interval < o.KeyExpiryNotices.Lead,
                "Usage:KeyExpiryNotices:Interval must be shorter than Usage:KeyExpiryNotices:Lead.")
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<UsageOptions>, UsageOptionsValidator>());

        // Every clock read in usage goes through TimeProvider, so tests can move time.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<UsageMetrics>();
        services.AddSingleton<UsageStore>();
        services.AddHostedService<RollupWorker>();
        services.AddSingleton<RetentionWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionWorker>());
        services.AddSingleton<QuotaStateFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<QuotaStateFeed>());
        services.TryAddSingleton<IHostResolver>(DnsHostResolver.Instance);
        // Webhook secrets are needed in clear to sign, so they are sealed (AES-256-GCM) under the
        // KEK from Veil:Secrets:Kek rather than hashed; the upgrade step (before the dispatcher
        // starts) seals values stored by older versions or under an earlier KEK.
        builder.AddVeilSecretProtection();
        services.AddHostedService<WebhookSecretsUpgrade>();
        services.AddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        services.AddSingleton<KeyExpiryNotifier>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyExpiryNotifier>());
        // "_grpc." picks the gRPC endpoint from services:identity:grpc:0. ListExpiringApiKeys only
        // reads, so the client may retry Unavailable within each page's deadline; a pass that still
        // fails runs again at the next interval.
        services.AddVeilGrpcClient<IdentityService.IdentityServiceClient>("identity").RetryUnavailable();
        services.AddScoped<UsageGrpcService>();
        // A full batch (10,000 events of a few hundred bytes) is above gRPC's 4 MiB default.
        services.AddGrpc().AddServiceOptions<UsageGrpcService>(o => o.MaxReceiveMessageSize = 16 * 1024 * 1024);
        services.AddHealthChecks().AddCheck<RollupLagHealthCheck>("usage-rollups", tags: ["ready"]);

        return builder;
    }
}

/// <summary>Data-annotation rules of <see cref="UsageOptions"/>, nested webhook options included (source-generated).</summary>
[OptionsValidator]
internal sealed partial class UsageOptionsValidator : IValidateOptions<UsageOptions>;
