using Microsoft.Extensions.Options;
using Veil.Identity.Data;
using Veil.Identity.Grpc;
using Veil.Identity.Security;
using Veil.ServiceDefaults.Data;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity;

/// <summary>
/// Work done before Kestrel accepts calls: seal secrets stored in clear by earlier versions (or
/// re-seal those sealed with an earlier KEK), load (or create) the signing keys and the API-key
/// hash secret, and bootstrap the administrator from configuration.
/// </summary>
internal sealed class IdentityStartup(
    IdentityStore store, SqliteDatabase database, SecretProtection protection, SigningKeys signingKeys, SigningKeyRotation rotation,
    ApiKeyHasher keyHasher, Passwords passwords, IOptions<IdentityOptions> options, TimeProvider time, ILogger<IdentityStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before 0003 the private keys and generated secrets were stored in clear: seal them, then
        // rewrite the file so no plaintext copy survives in free pages or the WAL.
        var resealed = await store.ResealSecretsAsync((purpose, value) => protection.Reseal(value, purpose), cancellationToken);
        if (resealed > 0)
        {
            await database.CompactAsync(cancellationToken);
            IdentityLog.SecretsResealed(logger, resealed, protection.CurrentKeyId);
        }
        await rotation.StepAsync(rotateNow: false, cancellationToken);
        IdentityLog.SigningKeysLoaded(logger, signingKeys.All.Count, signingKeys.Current.KeyId);
        await keyHasher.LoadAsync(cancellationToken);
        await BootstrapAdminAsync(cancellationToken);
        await BootstrapBillingManagersAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task BootstrapBillingManagersAsync(CancellationToken cancellationToken)
    {
        // Validated at start: every entry has a valid email and an acceptable password.
        foreach (var manager in options.Value.BillingManagers)
        {
            var email = InputRules.NormalizeEmail(manager.Email!);
            var existing = await store.FindAccountByEmailAsync(email, cancellationToken);
            if (existing is not null)
            {
                if (existing.Role != VeilClaims.Roles.BillingManager)
                {
                    IdentityLog.BillingManagerEmailHasOtherRole(logger, existing.Id, existing.Role);
                    throw new InvalidOperationException(
                        $"Identity:BillingManagers names an email that account {existing.Id} already holds with role '{existing.Role}'. " +
                        "Configure another email for the billing manager (a signed-up account is never promoted).");
                }
                continue;
            }
            var account = new AccountRecord(ResourceIds.New("acc"), email, "Billing manager", VeilClaims.Roles.BillingManager,
                passwords.Hash(manager.Password!), time.GetUtcNow());
            if (await store.TryCreateAccountAsync(account, AuditActions.BillingManagerBootstrapped, cancellationToken))
            {
                IdentityLog.BillingManagerBootstrapped(logger, account.Id);
            }
        }
    }

    private async Task BootstrapAdminAsync(CancellationToken cancellationToken)
    {
        var admin = options.Value.Admin;
        if (string.IsNullOrEmpty(admin.Email) && string.IsNullOrEmpty(admin.Password))
        {
            return;
        }
        var existing = string.IsNullOrEmpty(admin.Email)
            ? null
            : await store.FindAccountByEmailAsync(InputRules.NormalizeEmail(admin.Email), cancellationToken);
        if (existing is not null && existing.Role != VeilClaims.Roles.Admin)
        {
            IdentityLog.AdminEmailHasOtherRole(logger, existing.Id, existing.Role);
            throw new InvalidOperationException(
                $"Identity:Admin:Email names an email that account {existing.Id} already holds with role '{existing.Role}'. " +
                "Configure another administrator email (a signed-up account is never promoted).");
        }
        if (string.IsNullOrEmpty(admin.Email) || string.IsNullOrEmpty(admin.Password))
        {
            IdentityLog.AdminBootstrapIncomplete(logger);
            return;
        }

        var email = InputRules.NormalizeEmail(admin.Email);
        // The configured password only seeds a new administrator; it never overwrites an existing account.
        if (existing is not null)
        {
            return;
        }
        var account = new AccountRecord(ResourceIds.New("acc"), email, "Administrator", VeilClaims.Roles.Admin, passwords.Hash(admin.Password), time.GetUtcNow());
        if (await store.TryCreateAccountAsync(account, AuditActions.AdminBootstrapped, cancellationToken))
        {
            IdentityLog.AdminBootstrapped(logger, account.Id);
        }
    }
}
