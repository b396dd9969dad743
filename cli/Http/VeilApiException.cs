using System.Text.Json.Nodes;

namespace Veil.Cli.Http;

/// <summary>A non-2xx answer from the server, with its problem+json body when it had one.</summary>
public sealed class VeilApiException(int status, string method, string path, JsonObject? problem, string? body)
    : Exception($"{method} {path} → {status}")
{
    public int Status { get; } = status;

    public string Method { get; } = method;

    public string RequestPath { get; } = path;

    public string? Title { get; } = problem?["title"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)problem["title"] : null;

    public string? Detail { get; } = problem?["detail"]?.GetValueKind() == System.Text.Json.JsonValueKind.String
        ? (string?)problem["detail"]
        : problem is null && !string.IsNullOrWhiteSpace(body) && body.Length <= 500 ? body.Trim() : null;

    /// <summary>Each field error of the problem's <c>errors</c> object, in order: (field, message).</summary>
    public IReadOnlyList<(string Field, string Message)> FieldErrors { get; } = ReadErrors(problem);

    public JsonObject? Problem { get; } = problem;

    private static List<(string, string)> ReadErrors(JsonObject? problem)
    {
        var list = new List<(string, string)>();
        if (problem?["errors"] is not JsonObject errors)
        {
            return list;
        }
        foreach (var (field, messages) in errors)
        {
            if (messages is JsonArray array)
            {
                list.AddRange(array.Select(m => (field, m?.ToString() ?? "")));
            }
            else if (messages is not null)
            {
                list.Add((field, messages.ToString()));
            }
        }
        return list;
    }
}

/// <summary>The command needs a signed-in session for this server and there is none.</summary>
public sealed class NotSignedInException(string message) : Exception(message);

/// <summary>
/// A command that cannot go on, said in one sentence (exit 1): a route this server does not offer
/// (an older Veil), or a slug that belongs to someone else.
/// </summary>
public sealed class CommandFailedException(string message) : Exception(message);
