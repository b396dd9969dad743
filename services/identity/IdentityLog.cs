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

    [LoggerMessage(EventId = 1020, Level = LogLevel.Information, Message = "Account {AccountId} created API key {KeyId}")]
    public static partial void ApiKeyCreated(ILogger logger, string accountId, string keyId);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Information, Message = "Account {AccountId} revoked API key {KeyId}")]
    public static partial void ApiKeyRevoked(ILogger logger, string accountId, string keyId);

    [LoggerMessage(EventId = 1030, Level = LogLevel.Information, Message = "Administrator account {AccountId} created from configuration")]
    public static partial void AdminBootstrapped(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1031, Level = LogLevel.Warning, Message = "The configured administrator email belongs to account {AccountId} with role {Role}; it was left unchanged")]
    public static partial void AdminEmailHasOtherRole(ILogger logger, string accountId, string role);

    [LoggerMessage(EventId = 1032, Level = LogLevel.Warning, Message = "Only one of Identity:Admin:Email and Identity:Admin:Password is set; no administrator is bootstrapped")]
    public static partial void AdminBootstrapIncomplete(ILogger logger);

    [LoggerMessage(EventId = 1033, Level = LogLevel.Information, Message = "Billing manager account {AccountId} created from configuration")]
    public static partial void BillingManagerBootstrapped(ILogger logger, string accountId);

    [LoggerMessage(EventId = 1034, Level = LogLevel.Warning, Message = "A configured billing manager email belongs to account {AccountId} with role {Role}; it was left unchanged")]
    public static partial void BillingManagerEmailHasOtherRole(ILogger logger, string accountId, string role);

    [LoggerMessage(EventId = 1040, Level = LogLevel.Warning, Message = "Identity:ApiKeyHashSecret is not configured: API keys are hashed with a secret kept in the identity database (generated now: {Generated}). Configure a base64 secret of at least 32 bytes in production, shared by every replica.")]
    public static partial void ApiKeyHashSecretNotConfigured(ILogger logger, bool generated);

    [LoggerMessage(EventId = 1041, Level = LogLevel.Information, Message = "Loaded {Count} signing key(s); tokens are signed with key {KeyId}")]
    public static partial void SigningKeysLoaded(ILogger logger, int count, string keyId);

    [LoggerMessage(EventId = 1050, Level = LogLevel.Information, Message = "Key change watcher {EdgeId} connected at revision {Revision}")]
    public static partial void KeyWatcherConnected(ILogger logger, string edgeId, long revision);

    [LoggerMessage(EventId = 1051, Level = LogLevel.Information, Message = "Key change watcher {EdgeId} disconnected")]
    public static partial void KeyWatcherDisconnected(ILogger logger, string edgeId);
}
