using System.Text.Json;
using System.Text.Json.Serialization;

namespace Veil.Cli.Http;

/// <summary>The signed-in session <c>veil login</c> keeps: which server issued it, and its tokens.</summary>
public sealed record Credentials(
    string Server,
    string Email,
    string AccessToken,
    DateTimeOffset AccessTokenExpireTime,
    string RefreshToken,
    DateTimeOffset RefreshTokenExpireTime);

/// <summary>
/// The credentials file: <c>$XDG_CONFIG_HOME/veil/credentials.json</c>, or
/// <c>$HOME/.config/veil/credentials.json</c>. Written to a temporary file created with mode 0600
/// (never a moment readable by others), then renamed over the old one, so a crash never leaves a
/// half-written file and a reader never sees one.
/// </summary>
public sealed class CredentialStore(string path)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string Path { get; } = path;

    /// <summary>The store at the default location for <paramref name="environment"/>.</summary>
    public static CredentialStore For(Func<string, string?> environment)
    {
        var config = environment("XDG_CONFIG_HOME");
        if (string.IsNullOrEmpty(config))
        {
            var home = environment("HOME");
            if (string.IsNullOrEmpty(home))
            {
                home = System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
            }
            config = System.IO.Path.Combine(home, ".config");
        }
        return new CredentialStore(System.IO.Path.Combine(config, "veil", "credentials.json"));
    }

    public Credentials? Load()
    {
        if (!File.Exists(Path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<Credentials>(File.ReadAllText(Path), Json);
        }
        catch (JsonException)
        {
            // A damaged file is a signed-out state, not a crash: the next login replaces it.
            return null;
        }
    }

    public void Save(Credentials credentials)
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var temporary = System.IO.Path.Combine(directory, $".credentials-{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                JsonSerializer.Serialize(stream, credentials, Json);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, Path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Deletes the file; false when there was none.</summary>
    public bool Delete()
    {
        if (!File.Exists(Path))
        {
            return false;
        }
        File.Delete(Path);
        return true;
    }
}
