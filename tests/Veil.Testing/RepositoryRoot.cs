namespace Veil.Testing;

/// <summary>The checkout the tests run from: the nearest folder above the test binaries that holds <c>Veil.slnx</c>.</summary>
public static class RepositoryRoot
{
    /// <summary>The repository root's full path.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Veil.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Veil.slnx not found above " + AppContext.BaseDirectory);
    }
}
