using Xunit;
using System.Net;
using System.Text.Json;
using Google.Rpc;
using Grpc.Core;

namespace Veil.Testing;

/// <summary>Assertions on gRPC statuses, rich field errors and REST problem bodies.</summary>
public static class Expect
{
    public static async Task<RpcException> StatusAsync(StatusCode code, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(ex.StatusCode == code, $"Expected {code}, got {ex.StatusCode}: {ex.Status.Detail}");
        return ex;
    }

    /// <summary>Asserts InvalidArgument and returns the fields named by its BadRequest detail.</summary>
    public static async Task<string[]> FieldErrorsAsync(Func<Task> call)
    {
        var ex = await StatusAsync(StatusCode.InvalidArgument, call);
        var badRequest = ex.GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        return badRequest.FieldViolations.Select(v => v.Field).Distinct().ToArray();
    }

    /// <summary>Asserts the status and the problem+json content type; returns the problem.</summary>
    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(body);
        var problem = document.RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }

    /// <summary>The field names under the problem's <c>errors</c>.</summary>
    public static string[] ProblemFields(JsonElement problem) =>
        problem.TryGetProperty("errors", out var errors) ? errors.EnumerateObject().Select(p => p.Name).ToArray() : [];
}
