using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using SimpleBase;

namespace Veil.ServiceDefaults.Security;

/// <summary>
/// The shape of a Veil API key: <c>veil_live_</c> or <c>veil_test_</c>, then base58 of 32 random
/// bytes (left-padded to 44 characters), then a 6-character base58 checksum of everything before it
/// (first 4 bytes of SHA-256). A malformed key is recognised without any lookup or network call.
/// </summary>
public static class ApiKeyFormat
{
    /// <summary>Prefix of production keys.</summary>
    public const string LivePrefix = "veil_live_";

    /// <summary>Prefix of test keys.</summary>
    public const string TestPrefix = "veil_test_";

    private const int PrefixLength = 10;
    private const int SecretLength = 44;
    private const int ChecksumLength = 6;

    /// <summary>Total length of every well-formed key.</summary>
    public const int Length = PrefixLength + SecretLength + ChecksumLength;

    /// <summary>How many leading characters are kept as the key's visible prefix.</summary>
    public const int DisplayPrefixLength = PrefixLength + 6;

    /// <summary>Creates a new key with 32 bytes from the OS's cryptographic RNG.</summary>
    public static string Generate(bool live = true)
    {
        Span<byte> secret = stackalloc byte[32];
        RandomNumberGenerator.Fill(secret);
        var body = (live ? LivePrefix : TestPrefix) + Base58.Bitcoin.Encode(secret).PadLeft(SecretLength, '1');
        return body + Checksum(body);
    }

    /// <summary>True when <paramref name="key"/> has a known prefix, the exact length, only base58 characters and a matching checksum.</summary>
    public static bool IsWellFormed([NotNullWhen(true)] string? key) => HasKeyShape(key) && HasValidChecksum(key);

    /// <summary>
    /// The cheap part of <see cref="IsWellFormed"/>: a known prefix, the exact length and only base58
    /// characters (no checksum, which costs a hash).
    /// </summary>
    public static bool HasKeyShape([NotNullWhen(true)] string? key)
    {
        if (key is null || key.Length != Length)
        {
            return false;
        }
        if (!key.StartsWith(LivePrefix, StringComparison.Ordinal) && !key.StartsWith(TestPrefix, StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var c in key.AsSpan(PrefixLength))
        {
            if (!IsBase58(c))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The checksum part of <see cref="IsWellFormed"/>, for a key that <see cref="HasKeyShape"/>.</summary>
    public static bool HasValidChecksum(string key)
    {
        var body = key.AsSpan(0, PrefixLength + SecretLength);
        Span<char> expected = stackalloc char[ChecksumLength];
        Checksum(body, expected);
        return key.AsSpan(PrefixLength + SecretLength).SequenceEqual(expected);
    }

    /// <summary>The non-secret beginning of a key, shown in listings.</summary>
    public static string DisplayPrefix(string key) => key[..DisplayPrefixLength];

    private static string Checksum(string body)
    {
        Span<char> chars = stackalloc char[ChecksumLength];
        Checksum(body, chars);
        return new string(chars);
    }

    private static void Checksum(ReadOnlySpan<char> body, Span<char> destination)
    {
        Span<byte> utf8 = stackalloc byte[PrefixLength + SecretLength];
        var written = Encoding.ASCII.GetBytes(body, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..written], hash);
        var encoded = Base58.Bitcoin.Encode(hash[..4]).PadLeft(ChecksumLength, '1');
        encoded.AsSpan().CopyTo(destination);
    }

    private static bool IsBase58(char c) =>
        c is >= '1' and <= '9' or >= 'A' and <= 'H' or >= 'J' and <= 'N' or >= 'P' and <= 'Z' or >= 'a' and <= 'k' or >= 'm' and <= 'z';
}
