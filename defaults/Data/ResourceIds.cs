using System.Security.Cryptography;

namespace Veil.ServiceDefaults.Data;

/// <summary>
/// Opaque resource ids for every service's rows: <c>&lt;prefix&gt;_</c> + 20 random base58
/// characters (~117 bits), so ids cannot be guessed or enumerated and say what they name
/// (<c>api_…</c>, <c>sub_…</c>, <c>inv_…</c>).
/// </summary>
public static class ResourceIds
{
    /// <summary>Base58: no <c>0</c>, <c>O</c>, <c>I</c> or <c>l</c>, so an id read aloud or retyped survives.</summary>
    public const string Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    /// <summary>How many random characters follow the prefix.</summary>
    public const int RandomLength = 20;

    /// <summary>A new id such as <c>sub_7Hq…</c> for <paramref name="prefix"/> <c>sub</c>.</summary>
    public static string New(string prefix) => prefix + "_" + RandomNumberGenerator.GetString(Alphabet, RandomLength);
}
