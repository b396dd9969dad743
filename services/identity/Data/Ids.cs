using System.Security.Cryptography;

namespace Veil.Identity.Data;

/// <summary>Opaque ids: <c>&lt;prefix&gt;_</c> + 20 random base58 characters (~117 bits).</summary>
internal static class Ids
{
    private const string Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    public static string New(string prefix) =>
        prefix + "_" + RandomNumberGenerator.GetString(Alphabet, 20);
}
