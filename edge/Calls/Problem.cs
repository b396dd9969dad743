using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace Veil.Edge.Calls;

/// <summary>
/// A ready-made <c>application/problem+json</c> answer: the body is serialized once. The title is
/// the status's reason phrase unless <paramref name="title"/> names the problem.
/// </summary>
internal sealed class Problem(int status, string detail, string? type = null, string? title = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public int Status { get; } = status;

    public byte[] Body { get; } = JsonSerializer.SerializeToUtf8Bytes(new ProblemDetails
    {
        Type = type ?? $"https://veil.dev/problems/{status}",
        Title = title ?? ReasonPhrases.GetReasonPhrase(status),
        Status = status,
        Detail = detail,
    }, Json);
}
