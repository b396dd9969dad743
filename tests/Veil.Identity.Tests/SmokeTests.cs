using System.Net;
using Grpc.Core;
using Veil.Identity.Grpc;
using Veil.Identity.V1;
using Veil.Testing;

namespace Veil.Identity.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task SignUp_Invalid_ReturnsProblem()
    {
        await using var host = new ServiceHost<IdentityGrpcService>();
        using var rest = host.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        var response = await rest.PostAsync("v1/auth/signup", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"), ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        Assert.Contains("errors", body);

        using var channel = host.CreateGrpcChannel();
        var client = new IdentityService.IdentityServiceClient(channel);
        var ex = await Assert.ThrowsAsync<RpcException>(() => client.SignUpAsync(new SignUpRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        var health = await rest.GetAsync("health", ct);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var openapi = await rest.GetStringAsync("openapi/v1.json", ct);
        Assert.Contains("/v1/auth/signup", openapi);
        var metrics = await rest.GetStringAsync("metrics", ct);
        Assert.Contains("# ", metrics);
        Console.WriteLine(body);
    }
}
