using System.ComponentModel.DataAnnotations;

namespace Veil.Identity;

/// <summary>Identity's settings, bound from <c>Identity</c>.</summary>
public sealed class IdentityOptions
{
    public const string SectionName = "Identity";

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

    /// <summary>Lifetime of refresh tokens.</summary>
    [Range(typeof(TimeSpan), "00:05:00", "90.00:00:00")]
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>An account seeded from configuration: its email and first password.</summary>
    public sealed class AdminOptions
    {
        public string? Email { get; set; }

        public string? Password { get; set; }
    }
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
