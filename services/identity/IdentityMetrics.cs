using System.Diagnostics.Metrics;

namespace Veil.Identity;

/// <summary>The <c>Veil.Identity</c> meter: sign-ups, sign-ins, refreshes and API-key validations by outcome.</summary>
public sealed class IdentityMetrics
{
    public const string MeterName = "Veil.Identity";

    private readonly Counter<long> _signUps;
    private readonly Counter<long> _signIns;
    private readonly Counter<long> _refreshes;
    private readonly Counter<long> _keyValidations;
    private readonly Counter<long> _throttled;

    public IdentityMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _signUps = meter.CreateCounter<long>("veil.identity.sign_ups", "{account}", "Accounts created, by role.");
        _signIns = meter.CreateCounter<long>("veil.identity.sign_ins", "{attempt}", "Sign-in attempts, by outcome (success, failure, backed_off).");
        _throttled = meter.CreateCounter<long>("veil.identity.auth_throttled", "{call}",
            "Auth calls refused with 429, by limit (address, account, hashing).");
        _refreshes = meter.CreateCounter<long>("veil.identity.refreshes", "{attempt}",
            "Refresh-token presentations, by outcome (rotated, invalid, reuse_detected).");
        _keyValidations = meter.CreateCounter<long>("veil.identity.api_key_validations", "{validation}",
            "ValidateApiKey answers, by outcome (valid, malformed, unknown, revoked, expired).");
    }

    public void SignedUp(string role) => _signUps.Add(1, new KeyValuePair<string, object?>("veil.role", role));

    public void SignIn(bool success) => _signIns.Add(1, new KeyValuePair<string, object?>("veil.outcome", success ? "success" : "failure"));

    public void SignInBackedOff() => _signIns.Add(1, new KeyValuePair<string, object?>("veil.outcome", "backed_off"));

    public void Throttled(string limit) => _throttled.Add(1, new KeyValuePair<string, object?>("veil.limit", limit));

    public void Refresh(string outcome) => _refreshes.Add(1, new KeyValuePair<string, object?>("veil.outcome", outcome));

    public void KeyValidated(string outcome) => _keyValidations.Add(1, new KeyValuePair<string, object?>("veil.outcome", outcome));
}
