using System.Text;
using Xunit;

namespace Veil.Testing;

/// <summary>The raw bytes of a service's SQLite files, to prove what they do not contain.</summary>
public static class DatabaseFiles
{
    /// <summary>
    /// The files of database <paramref name="name"/> in <paramref name="dataDirectory"/> (<c>.db</c>,
    /// <c>-wal</c>, <c>-shm</c>, <c>-journal</c>, those that exist), read while the service may still
    /// have them open.
    /// </summary>
    public static Dictionary<string, byte[]> Read(string dataDirectory, string name) =>
        new[] { ".db", ".db-wal", ".db-shm", ".db-journal" }
            .Select(suffix => Path.Combine(dataDirectory, name + suffix))
            .Where(File.Exists)
            .ToDictionary(path => Path.GetFileName(path), path =>
            {
                using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var copy = new MemoryStream();
                file.CopyTo(copy);
                return copy.ToArray();
            });

    /// <summary>
    /// The encodings a secret could be stored under: the bytes themselves, base64, base64url and
    /// hex (both cases), each as ASCII/UTF-8.
    /// </summary>
    public static IEnumerable<(string Form, byte[] Bytes)> Encodings(byte[] secret)
    {
        yield return ("raw", secret);
        var base64 = Convert.ToBase64String(secret);
        yield return ("base64", Encoding.ASCII.GetBytes(base64.TrimEnd('=')));
        yield return ("base64url", Encoding.ASCII.GetBytes(base64.TrimEnd('=').Replace('+', '-').Replace('/', '_')));
        yield return ("hex", Encoding.ASCII.GetBytes(Convert.ToHexStringLower(secret)));
        yield return ("HEX", Encoding.ASCII.GetBytes(Convert.ToHexString(secret)));
    }

    /// <summary>Where any encoding of any named secret occurs in the files ("file: secret (form)"); empty when nowhere.</summary>
    public static List<string> FindSecrets(string dataDirectory, string name, params (string Name, byte[] Secret)[] secrets)
    {
        var files = Read(dataDirectory, name);
        Assert.True(files.ContainsKey(name + ".db"), $"{name}.db exists in {dataDirectory}");
        var found = new List<string>();
        foreach (var (file, bytes) in files)
        {
            foreach (var (secretName, secret) in secrets)
            {
                foreach (var (form, needle) in Encodings(secret))
                {
                    if (bytes.AsSpan().IndexOf(needle) >= 0)
                    {
                        found.Add($"{file}: {secretName} ({form})");
                    }
                }
            }
        }
        return found;
    }
}
