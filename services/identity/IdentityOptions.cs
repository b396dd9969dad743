using System.ComponentModel.DataAnnotations;

namespace Veil.Identity;

/// <summary>Identity's settings, bound from <c>Identity</c>.</summary>
public sealed class IdentityOptions
{
    public const string SectionName = "Identity";

    /// <summary>
    /// The administrator password the README and the AppHost use for local runs; refused outside
    /// the Development environment.
    /// </summary>
    public const string PublishedAdminPassword = "change-me-admin-password";

    /// <summary>The administrator created at start when both values are set and the email is not taken.</summary>
    public AdminOptions Admin { get; set; } = new();

    /// <summary>
    /// Billing managers created at start (no RPC creates one): each entry whose email is not taken
    /// becomes a <c>billing_manager</c> account with that first password. Existing accounts are
    /// never changed.
    /// </summary>
    public List<AdminOptions> BillingManagers { get; set; } = [];

    /// <summary>
    /// Base64 secret (≥ 32 bytes) keying the HMAC-SHA256 under which API keys are stored. Every
    /// identity replica must share it. When empty, one is generated and kept in the database.
    /// </summary>
    public string? ApiKeyHashSecret { get; set; }

    /// <summary>Lifetime of access tokens (design: 1 hour).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "01:00:00")]
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Sliding lifetime of refresh tokens: each one expires this long after it is issued.</summary>
    [Range(typeof(TimeSpan), "00:05:00", "90.00:00:00")]
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(14);

    /// <summary>
    /// Absolute lifetime of a session: no refresh token of a family outlives this span after the
    /// sign-in (or sign-up) that started it, however often it is rotated.
    /// </summary>
    [Range(typeof(TimeSpan), "00:05:00", "365.00:00:00")]
    public TimeSpan RefreshTokenAbsoluteLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// The public base URL of Veil's management API (the edge), used in the OpenID metadata
    /// (<c>jwks_uri</c>). Never taken from a request's Host or X-Forwarded-* headers.
    /// </summary>
    [Required, Url]
    public string PublicBaseUrl { get; set; } = "http://localhost:8080";

    /// <summary>Most live (neither revoked nor expired) API keys one account may hold.</summary>
    [Range(1, 100_000)]
    public int MaxApiKeysPerAccount { get; set; } = 50;

    /// <summary>
    /// The configured staff emails (administrator and billing managers), normalised: sign-up
    /// refuses them, so no stranger can take one before its account is bootstrapped.
    /// </summary>
    public IReadOnlySet<string> StaffEmails() =>
        _staffEmails ??= new[] { Admin.Email }.Concat(BillingManagers.Select(m => m.Email))
            .Where(e => !string.IsNullOrWhiteSpace(e))
            .Select(e => Grpc.InputRules.NormalizeEmail(e!))
            .ToHashSet(StringComparer.Ordinal);

    private HashSet<string>? _staffEmails;

    /// <summary>An account seeded from configuration: its email and first password.</summary>
    public sealed class AdminOptions
    {
        public string? Email { get; set; }

        public string? Password { get; set; }
    }
}

/// <summary>Rate limits, sign-in back-off and the password-hashing cap, bound from <c>Identity:AuthLimits</c>.</summary>
public sealed class AuthLimitOptions
{
    public const string SectionName = "Identity:AuthLimits";

    /// <summary>Auth calls one client address may make per <see cref="PerAddressWindow"/> (token bucket, burst of the same size).</summary>
    [Range(1, int.MaxValue)]
    public int PerAddressPermitLimit { get; set; } = 30;

    /// <summary>The period over which <see cref="PerAddressPermitLimit"/> calls are replenished.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan PerAddressWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Sign-in, sign-up and password-change attempts per email per <see cref="PerAccountWindow"/>.</summary>
    [Range(1, int.MaxValue)]
    public int PerAccountPermitLimit { get; set; } = 10;

    /// <summary>The period over which <see cref="PerAccountPermitLimit"/> attempts are replenished.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan PerAccountWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Failed sign-ins of one email in a row before back-off starts.</summary>
    [Range(1, 1000)]
    public int BackoffFreeFailures { get; set; } = 5;

    /// <summary>The wait after the first failure beyond the free ones; it doubles with each further failure.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan BackoffBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait back-off imposes (the most a stranger can hold an account's sign-in back).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan BackoffMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Password hashes computed at once; 0 means half the processors (at least 1).</summary>
    [Range(0, 1024)]
    public int MaxConcurrentHashes { get; set; }

    /// <summary>Hash requests that may wait for a slot; beyond that a call is refused at once with 429.</summary>
    [Range(0, 100_000)]
    public int HashQueueLimit { get; set; } = 64;
}

/// <summary>API-key lifetimes, rotation overlap and last-used precision, bound from <c>Identity:ApiKeys</c>.</summary>
public sealed class ApiKeyOptions
{
    public const string SectionName = "Identity:ApiKeys";

    /// <summary>Lifetime of a key created without <c>expires_in_days</c> (design: 90-day rotation).</summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "365.00:00:00")]
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromDays(90);

    /// <summary>The longest lifetime a key may ask for: keys never live forever.</summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "365.00:00:00")]
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How long a rotated key keeps working when the request names no overlap.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan RotationOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The longest overlap a rotation may ask for.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan MaxRotationOverlap { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Precision of <c>last_used_time</c>: a key's row is written at most once per period.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan LastUsedPrecision { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The longest lifetime in whole days, the bound of <c>expires_in_days</c>.</summary>
    public int MaxLifetimeDays => (int)MaxLifetime.TotalDays;
}
