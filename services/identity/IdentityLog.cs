namespace Veil.Identity;

/// <summary>
/// Identity's log events (EventIds 1000–1999). Account and key ids only: never an email, a
/// password, a token or a key.
/// </summary>
internal static partial class IdentityLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Account {AccountId} signed up as {Role}")]
    public static partial void AccountCreated(ILogger logger, string accountId, string role);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Sign-in failed (account known: {AccountKnown})")]
    public static partial void SignInFailed(ILogger logger, bool accountKnown);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "Account {AccountId} signed in")]
    public static partial void SignedIn(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "Account {AccountId}'s password hash was upgraded to the current format")]
    public static partial void PasswordRehashed(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "A used refresh token of account {AccountId} was presented again; its session family was revoked")]
    public static partial void RefreshTokenReused(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "Account {AccountId} signed out of one session")]
    public static partial void SignedOut(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "Account {AccountId} signed out everywhere ({Sessions} live session(s) ended)")]
    public static partial void SignedOutEverywhere(ILogger logger, string accountId, int sessions);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "Account {AccountId} changed its password; every session ended")]
    public static partial void PasswordChanged(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Information, Message = "Account {AccountId} created API key {KeyId}")]
    public static partial void ApiKeyCreated(ILogger logger, string accountId, string keyId);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Information, Message = "Account {AccountId} revoked API key {KeyId}")]
    public static partial void ApiKeyRevoked(ILogger logger, string accountId, string keyId);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Information, Message = "Account {AccountId} rotated API key {KeyId} to {SuccessorId}; the old key expires at {ExpireTime}")]
    public static partial void ApiKeyRotated(ILogger logger, string accountId, string keyId, string successorId, DateTimeOffset expireTime);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Warning, Message = "Could not record the last-used time of {Count} API key(s); they are noted again on their next use")]
    public static partial void ApiKeyLastUsedWriteFailed(ILogger logger, int count, Exception? exception);

    [LoggerMessage(EventId = 1030, Level = LogLevel.Information, Message = "Administrator account {AccountId} created from configuration")]
    public static partial void AdminBootstrapped(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1031, Level = LogLevel.Error, Message = "The configured administrator email belongs to account {AccountId} with role {Role}; identity does not start")]
    public static partial void AdminEmailHasOtherRole(ILogger logger, string accountId, string role);

    [LoggerMessage(EventId = 1032, Level = LogLevel.Warning, Message = "Only one of Identity:Admin:Email and Identity:Admin:Password is set; no administrator is bootstrapped")]
    public static partial void AdminBootstrapIncomplete(ILogger logger);

    [LoggerMessage(EventId = 1033, Level = LogLevel.Information, Message = "Billing manager account {AccountId} created from configuration")]
    public static partial void BillingManagerBootstrapped(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1034, Level = LogLevel.Error, Message = "A configured billing manager email belongs to account {AccountId} with role {Role}; identity does not start")]
    public static partial void BillingManagerEmailHasOtherRole(ILogger logger, string accountId, string role);

    [LoggerMessage(EventId = 1040, Level = LogLevel.Warning, Message = "Identity:ApiKeyHashSecret is not configured: API keys are hashed with a secret kept in the identity database (generated now: {Generated}). Configure a base64 secret of at least 32 bytes in production, shared by every replica.")]
    public static partial void ApiKeyHashSecretNotConfigured(ILogger logger, bool generated);

    [LoggerMessage(EventId = 1041, Level = LogLevel.Information, Message = "Loaded {Count} signing key(s); tokens are signed with key {KeyId}")]
    public static partial void SigningKeysLoaded(ILogger logger, int count, string keyId);

    [LoggerMessage(EventId = 1042, Level = LogLevel.Information, Message = "Signing key {KeyId} created and published; it signs from {ActivatesAt:o}")]
    public static partial void SigningKeyCreated(ILogger logger, string keyId, DateTimeOffset activatesAt);

    [LoggerMessage(EventId = 1043, Level = LogLevel.Information, Message = "Signing key {KeyId} deleted: every token it signed has expired")]
    public static partial void SigningKeyRemoved(ILogger logger, string keyId);

    [LoggerMessage(EventId = 1044, Level = LogLevel.Error, Message = "Signing-key rotation step failed; retrying in a minute")]
    public static partial void SigningKeyRotationFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1045, Level = LogLevel.Warning, Message = "Sealed {Count} stored secret(s) with key-encryption key {KekId} (they were in clear or sealed with an earlier key)")]
    public static partial void SecretsResealed(ILogger logger, int count, string kekId);

    [LoggerMessage(EventId = 1046, Level = LogLevel.Information, Message = "Administrator {AccountId} started a signing-key rotation: key {KeyId} signs from {ActivatesAt:o}")]
    public static partial void SigningKeyRotationRequested(ILogger logger, string accountId, string keyId, DateTimeOffset activatesAt);

    [LoggerMessage(EventId = 1050, Level = LogLevel.Information, Message = "Key change watcher {EdgeId} connected at revision {Revision}")]
    public static partial void KeyWatcherConnected(ILogger logger, string edgeId, long revision);

    [LoggerMessage(EventId = 1051, Level = LogLevel.Information, Message = "Key change watcher {EdgeId} disconnected")]
    public static partial void KeyWatcherDisconnected(ILogger logger, string edgeId);
}
