using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Veil.Identity.Data;

namespace Veil.Identity.Security;

/// <summary>
/// Password hashing with ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/> (PBKDF2,
/// versioned format). An unknown email is verified against a decoy hash, so a failed sign-in
/// costs the same time whether or not the account exists.
/// </summary>
internal sealed class Passwords
{
    public const int MinimumLength = 12;
    public const int MaximumLength = 256;

    private static readonly AccountRecord Nobody = new("", "", "", "", "", DateTimeOffset.UnixEpoch);

    private readonly PasswordHasher<AccountRecord> _hasher = new();
    private readonly string _decoyHash;

    public Passwords() => _decoyHash = _hasher.HashPassword(Nobody, Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)));

    public string Hash(string password) => _hasher.HashPassword(Nobody, password);

    /// <summary>Verifies <paramref name="password"/> against <paramref name="account"/>'s hash, or the decoy when there is no account.</summary>
    public PasswordVerificationResult Verify(AccountRecord? account, string password)
    {
        var result = _hasher.VerifyHashedPassword(account ?? Nobody, account?.PasswordHash ?? _decoyHash, password);
        return account is null ? PasswordVerificationResult.Failed : result;
    }
}
