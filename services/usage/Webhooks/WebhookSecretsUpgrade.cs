using Microsoft.AspNetCore.DataProtection;
using Veil.ServiceDefaults.Data;
using Veil.ServiceDefaults.Security;
using Veil.Usage.Data;

namespace Veil.Usage.Webhooks;

/// <summary>
/// Brings every stored webhook secret under the current KEK before the dispatcher starts: values
/// sealed with an earlier KEK (<c>Veil:Secrets:PreviousKeks</c>) are re-sealed, and values written
/// by versions before 0.x — protected by ASP.NET Core Data Protection with an unencrypted key ring
/// in <c>{data}/usage-keys</c> on the same volume — are opened with that ring and sealed. Then the
/// file is compacted, so the old values leave no copy in free pages or the WAL.
/// </summary>
internal sealed class WebhookSecretsUpgrade(
    UsageStore store, SqliteDatabase database, SecretProtection protection, IHostEnvironment environment, IConfiguration configuration,
    ILogger<WebhookSecretsUpgrade> logger) : IHostedService
{
    /// <summary>Data-protection purpose and application name the old versions used.</summary>
    private const string LegacyPurpose = "Veil.Usage.WebhookSecret.v1";
    private const string LegacyApplicationName = "veil-usage";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var keyRing = LegacyKeyRing();
        IDataProtector? legacy = null;
        var changed = await store.ResealWebhookSecretsAsync((consumerId, stored) =>
        {
            var purpose = WebhookDispatcher.SecretPurpose + consumerId;
            if (SecretProtection.IsProtectedString(stored))
            {
                return protection.IsCurrentString(stored) ? null : protection.ProtectString(protection.UnprotectString(stored, purpose), purpose);
            }
            try
            {
                legacy ??= DataProtectionProvider.Create(new DirectoryInfo(keyRing), b => b.SetApplicationName(LegacyApplicationName))
                    .CreateProtector(LegacyPurpose);
                return protection.ProtectString(legacy.Unprotect(stored), purpose);
            }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                UsageLog.LegacyWebhookSecretUnreadable(logger, consumerId, keyRing, ex);
                return null;
            }
        }, cancellationToken);
        if (changed > 0)
        {
            await database.CompactAsync(cancellationToken);
            UsageLog.WebhookSecretsResealed(logger, changed, protection.CurrentKeyId);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private string LegacyKeyRing()
    {
        var directory = configuration["Veil:DataDirectory"];
        directory = string.IsNullOrWhiteSpace(directory) ? Path.Combine(environment.ContentRootPath, ".data") : directory;
        return Path.Combine(directory, "usage-keys");
    }
}
