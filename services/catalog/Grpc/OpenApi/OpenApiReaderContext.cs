using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;

namespace Veil.Catalog.Grpc.OpenApi;

/// <summary>
/// Microsoft.OpenApi 3.x (OpenAPI 3.0 and 3.1, JSON and YAML) in a load context of its own. The
/// catalog's Swagger generation (Grpc.Swagger → Swashbuckle 8) is built against Microsoft.OpenApi
/// 1.x, which reads no 3.1, and one context holds one version of an assembly; so the reader
/// (OpenApiReader/, embedded into this assembly at build) is loaded here and called with strings.
/// </summary>
internal sealed class OpenApiReaderContext : AssemblyLoadContext
{
    private const string ResourcePrefix = "openapi-reader/";
    private static readonly Lazy<Entry> Loaded = new(Load);

    private OpenApiReaderContext() : base("Veil.Catalog.OpenApiReader")
    {
    }

    /// <summary>Parses and validates a document (see <c>DocumentReader.Read</c>).</summary>
    public static ReadResult Read(string document)
    {
        var json = Loaded.Value.Read(document);
        return JsonSerializer.Deserialize(json, ReaderJson.Default.ReadResult)
            ?? throw new InvalidOperationException("The OpenAPI reader returned nothing.");
    }

    /// <summary>The public document (see <c>DocumentReader.Publish</c>), or null when it does not read as OpenAPI 3.0/3.1.</summary>
    public static string? Publish(string document, string publicUrl, IReadOnlyList<string> hiddenUrls, string format) =>
        Loaded.Value.Publish(document, publicUrl, JsonSerializer.Serialize(hiddenUrls, ReaderJson.Default.IReadOnlyListString), format);

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // Only what travels in the resources loads here; everything else (the framework) is shared.
        using var stream = typeof(OpenApiReaderContext).Assembly.GetManifestResourceStream(ResourcePrefix + assemblyName.Name + ".dll");
        return stream is null ? null : LoadFromStream(stream);
    }

    private static Entry Load()
    {
        var context = new OpenApiReaderContext();
        var reader = context.LoadFromAssemblyName(new AssemblyName("Veil.Catalog.OpenApiReader"))
            .GetType("Veil.Catalog.OpenApiReader.DocumentReader", throwOnError: true)!;
        return new Entry(
            reader.GetMethod("Read")!.CreateDelegate<Func<string, string>>(),
            reader.GetMethod("Publish")!.CreateDelegate<Func<string, string, string, string, string?>>());
    }

    private sealed record Entry(Func<string, string> Read, Func<string, string, string, string, string?> Publish);
}

/// <summary>What the reader found in a document.</summary>
internal sealed record ReadResult(
    string? Version,
    string? Title,
    string? Description,
    IReadOnlyList<string>? Servers,
    IReadOnlyList<ReadError> Errors);

/// <summary>One error of the reader or its validation, at a JSON pointer into the document.</summary>
internal sealed record ReadError(string Pointer, string Message);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ReadResult))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<string>))]
internal sealed partial class ReaderJson : System.Text.Json.Serialization.JsonSerializerContext;
