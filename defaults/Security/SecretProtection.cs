using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Veil.ServiceDefaults.Security;

/// <summary>
/// The key-encryption key (KEK) that seals a service's secrets at rest, bound from
/// <c>Veil:Secrets</c>. It comes from outside the database (configuration, a Kubernetes Secret),
/// so the database files alone reveal no secret.
/// </summary>
public sealed class SecretsOptions
{
    public const string SectionName = "Veil:Secrets";

    /// <summary>
    /// Base64 of 32 random bytes (<c>openssl rand -base64 32</c>): the AES-256-GCM key new values
    /// are sealed with. Required outside Development; in Development, when empty, a key is
    /// generated once into <c>{Veil:DataDirectory}/development.kek</c> (outside the database).
    /// </summary>
    public string? Kek { get; set; }

    /// <summary>
    /// Earlier KEKs (base64 of 32 bytes each, separated by commas), still accepted for reading:
    /// a value sealed with one is re-sealed with <see cref="Kek"/> at start.
    /// </summary>
    public string? PreviousKeks { get; set; }
}

/// <summary>
/// Seals secrets for storage with AES-256-GCM under the key-encryption key. A sealed value is
/// <c>"VSK1" | key id (8) | nonce (12) | tag (16) | ciphertext</c>; the key id names the KEK
/// (the first 8 bytes of HMAC-SHA256(KEK, "veil-kek-id"), which reveals nothing of it), and the
/// caller's purpose (e.g. <c>identity/signing-key/{kid}</c>) is the associated data, so a
/// sealed value copied to another row or service does not open.
/// </summary>
public sealed class SecretProtection
{
    /// <summary>Length of a KEK in bytes (AES-256).</summary>
    public const int KeyBytes = 32;

    /// <summary>Prefix of sealed values stored as text (<see cref="ProtectString"/>).</summary>
    public const string TextPrefix = "vsk1.";

    private const int IdBytes = 8;
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private static readonly byte[] Magic = "VSK1"u8.ToArray();
    private static readonly int HeaderBytes = Magic.Length + IdBytes + NonceBytes + TagBytes;

    private readonly byte[] _currentId;
    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    /// <summary>A protector sealing with <paramref name="kek"/> and opening values sealed with it or any of <paramref name="previousKeks"/>.</summary>
    public SecretProtection(byte[] kek, IEnumerable<byte[]>? previousKeks = null)
    {
        if (kek.Length != KeyBytes)
        {
            throw new ArgumentException($"A key-encryption key is {KeyBytes} bytes.", nameof(kek));
        }
        _currentId = KeyId(kek);
        _keys[Convert.ToHexStringLower(_currentId)] = kek;
        foreach (var previous in previousKeks ?? [])
        {
            if (previous.Length != KeyBytes)
            {
                throw new ArgumentException($"A key-encryption key is {KeyBytes} bytes.", nameof(previousKeks));
            }
            _keys.TryAdd(Convert.ToHexStringLower(KeyId(previous)), previous);
        }
    }

    /// <summary>Hex id of the KEK new values are sealed with (safe to log).</summary>
    public string CurrentKeyId => Convert.ToHexStringLower(_currentId);

    /// <summary>Seals <paramref name="plaintext"/> for <paramref name="purpose"/> with the current KEK.</summary>
    public byte[] Protect(ReadOnlySpan<byte> plaintext, string purpose)
    {
        var output = new byte[HeaderBytes + plaintext.Length];
        Magic.CopyTo(output, 0);
        _currentId.CopyTo(output, Magic.Length);
        var nonce = output.AsSpan(Magic.Length + IdBytes, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        var tag = output.AsSpan(Magic.Length + IdBytes + NonceBytes, TagBytes);
        using var aes = new AesGcm(_keys[CurrentKeyId], TagBytes);
        aes.Encrypt(nonce, plaintext, output.AsSpan(HeaderBytes), tag, Encoding.UTF8.GetBytes(purpose));
        return output;
    }

    /// <summary>Opens a value sealed for <paramref name="purpose"/>; throws <see cref="CryptographicException"/> when it cannot.</summary>
    public byte[] Unprotect(ReadOnlySpan<byte> sealedValue, string purpose)
    {
        if (!IsProtected(sealedValue))
        {
            throw new CryptographicException("The value is not sealed by Veil's secret protection.");
        }
        var id = Convert.ToHexStringLower(sealedValue.Slice(Magic.Length, IdBytes));
        if (!_keys.TryGetValue(id, out var kek))
        {
            throw new CryptographicException(
                $"The value is sealed with key-encryption key {id}, which is neither {SecretsOptions.SectionName}:Kek nor in {SecretsOptions.SectionName}:PreviousKeks.");
        }
        var nonce = sealedValue.Slice(Magic.Length + IdBytes, NonceBytes);
        var tag = sealedValue.Slice(Magic.Length + IdBytes + NonceBytes, TagBytes);
        var ciphertext = sealedValue[HeaderBytes..];
        var plaintext = new byte[ciphertext.Length];
        using var aes = new AesGcm(kek, TagBytes);
        aes.Decrypt(nonce, ciphertext, tag, plaintext, Encoding.UTF8.GetBytes(purpose));
        return plaintext;
    }

    /// <summary>True when <paramref name="value"/> has the sealed layout (it may still be sealed with an unknown key).</summary>
    public static bool IsProtected(ReadOnlySpan<byte> value) => value.Length >= HeaderBytes && value.StartsWith(Magic);

    /// <summary>True when <paramref name="value"/> is sealed with the current KEK (nothing to re-seal).</summary>
    public bool IsCurrent(ReadOnlySpan<byte> value) => IsProtected(value) && value.Slice(Magic.Length, IdBytes).SequenceEqual(_currentId);

    /// <summary>
    /// What to store instead of <paramref name="stored"/>: null when it is already sealed with the
    /// current KEK; the value re-sealed when an earlier KEK sealed it; and when it is not sealed at
    /// all (a row written before secrets were sealed), <paramref name="plaintextOf"/> of it, sealed.
    /// </summary>
    public byte[]? Reseal(byte[] stored, string purpose, Func<byte[], byte[]>? plaintextOf = null)
    {
        if (IsCurrent(stored))
        {
            return null;
        }
        var plaintext = IsProtected(stored) ? Unprotect(stored, purpose) : (plaintextOf ?? (v => v))(stored);
        try
        {
            return Protect(plaintext, purpose);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Seals a string; the result is <see cref="TextPrefix"/> + base64url, for TEXT columns.</summary>
    public string ProtectString(string plaintext, string purpose) =>
        TextPrefix + Base64Url.EncodeToString(Protect(Encoding.UTF8.GetBytes(plaintext), purpose));

    /// <summary>Opens a string sealed by <see cref="ProtectString"/>.</summary>
    public string UnprotectString(string sealedValue, string purpose) =>
        Encoding.UTF8.GetString(Unprotect(TextBytes(sealedValue), purpose));

    /// <summary>True when <paramref name="value"/> was made by <see cref="ProtectString"/>.</summary>
    public static bool IsProtectedString(string value) => value.StartsWith(TextPrefix, StringComparison.Ordinal);

    /// <summary>True when <paramref name="value"/> was made by <see cref="ProtectString"/> with the current KEK.</summary>
    public bool IsCurrentString(string value) => IsProtectedString(value) && IsCurrent(TextBytes(value));

    /// <summary>Parses a KEK setting: base64 of exactly 32 bytes, or null.</summary>
    public static byte[]? ParseKey(string? base64)
    {
        var buffer = new byte[KeyBytes + 3];
        return base64 is not null && Convert.TryFromBase64String(base64.Trim(), buffer, out var length) && length == KeyBytes
            ? buffer[..KeyBytes]
            : null;
    }

    /// <summary>The entries of <see cref="SecretsOptions.PreviousKeks"/>.</summary>
    public static IEnumerable<string> SplitKeys(string? keys) =>
        (keys ?? "").Split([',', ' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries);

    private static byte[] TextBytes(string value)
    {
        if (!IsProtectedString(value))
        {
            throw new CryptographicException("The value is not sealed by Veil's secret protection.");
        }
        try
        {
            return Base64Url.DecodeFromChars(value.AsSpan(TextPrefix.Length));
        }
        catch (FormatException ex)
        {
            throw new CryptographicException("The sealed value is damaged.", ex);
        }
    }

    private static byte[] KeyId(byte[] kek) => HMACSHA256.HashData(kek, "veil-kek-id"u8)[..IdBytes];
}

/// <summary>Registration of <see cref="SecretProtection"/>.</summary>
public static class SecretProtectionExtensions
{
    /// <summary>Name of the generated KEK file (Development only) in the data folder.</summary>
    public const string DevelopmentKekFile = "development.kek";

    /// <summary>
    /// Registers <see cref="SecretProtection"/> with the KEK from <c>Veil:Secrets:Kek</c> (validated
    /// at start: base64 of 32 bytes, required outside Development) and the earlier ones from
    /// <c>Veil:Secrets:PreviousKeks</c>. In Development without a configured KEK, one is generated
    /// once into <c>{data folder}/development.kek</c>, next to (never inside) the databases.
    /// </summary>
    public static TBuilder AddVeilSecretProtection<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var development = builder.Environment.IsDevelopment();
        var dataDirectory = builder.DataDirectory();
        builder.Services.AddOptions<SecretsOptions>()
            .BindConfiguration(SecretsOptions.SectionName)
            .Validate(o => development || !string.IsNullOrWhiteSpace(o.Kek),
                "Veil:Secrets:Kek is not set. Set it to base64 of 32 random bytes (openssl rand -base64 32), from a secret store such as a Kubernetes Secret (env Veil__Secrets__Kek); it encrypts the secrets kept in the database.")
            .Validate(o => string.IsNullOrWhiteSpace(o.Kek) || SecretProtection.ParseKey(o.Kek) is not null,
                "Veil:Secrets:Kek must be base64 of exactly 32 bytes (openssl rand -base64 32).")
            .Validate(o => SecretProtection.SplitKeys(o.PreviousKeks).All(k => SecretProtection.ParseKey(k) is not null),
                "Every entry of Veil:Secrets:PreviousKeks (comma-separated) must be base64 of exactly 32 bytes.")
            .ValidateOnStart();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<SecretsOptions>>().Value;
            var kek = SecretProtection.ParseKey(options.Kek);
            if (kek is null)
            {
                var path = Path.Combine(dataDirectory, DevelopmentKekFile);
                kek = ReadOrCreateDevelopmentKek(path);
                SecretProtectionLog.DevelopmentKek(sp.GetRequiredService<ILogger<SecretProtection>>(), path);
            }
            return new SecretProtection(kek, SecretProtection.SplitKeys(options.PreviousKeks).Select(k => SecretProtection.ParseKey(k)!));
        });
        return builder;
    }

    /// <summary>
    /// The development KEK at <paramref name="path"/>, created (owner-only) when absent. Several
    /// local services share the folder and may start at once: the first one to create the file
    /// wins, the others read it.
    /// </summary>
    private static byte[] ReadOrCreateDevelopmentKek(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (SecretProtection.ParseKey(File.Exists(path) ? File.ReadAllText(path) : null) is { } existing)
                {
                    return existing;
                }
                if (File.Exists(path))
                {
                    throw new InvalidOperationException($"{path} does not hold base64 of 32 bytes; delete it (and the secrets it sealed) or set Veil:Secrets:Kek.");
                }
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }
                var kek = RandomNumberGenerator.GetBytes(SecretProtection.KeyBytes);
                var tmp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
                using (var file = new FileStream(tmp, options))
                using (var writer = new StreamWriter(file))
                {
                    writer.Write(Convert.ToBase64String(kek));
                }
                try
                {
                    // Atomic, and fails when another process created the file first: then read theirs.
                    File.Move(tmp, path, overwrite: false);
                    return kek;
                }
                catch (IOException)
                {
                    File.Delete(tmp);
                }
            }
            catch (IOException) when (attempt < 20)
            {
                // Another process is writing the file at this moment; read it again.
            }
        }
    }
}

internal static partial class SecretProtectionLog
{
    [LoggerMessage(EventId = 120, Level = LogLevel.Warning, Message = "Veil:Secrets:Kek is not set: secrets in the database are sealed with the development key in {Path}. Development only; production sets Veil:Secrets:Kek from a secret store.")]
    public static partial void DevelopmentKek(ILogger logger, string path);
}
