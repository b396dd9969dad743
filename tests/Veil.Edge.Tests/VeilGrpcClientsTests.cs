using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Veil.Identity.V1;

namespace Veil.Edge.Tests;

/// <summary>The one way fleet clients are registered and retried (defaults/Grpc/VeilGrpcClientExtensions.cs).</summary>
public sealed class VeilGrpcClientsTests
{
    [Fact]
    public void AddVeilGrpcClient_AddressesTheServicesGrpcEndpointWithoutRetries()
    {
        var (address, channel) = Registered(services => services.AddVeilGrpcClient<IdentityService.IdentityServiceClient>("identity"));

        Assert.Equal(new Uri("http://_grpc.identity"), address);
        Assert.Null(channel.ServiceConfig);
    }

    [Theory]
    [InlineData(null, 3)]
    [InlineData(2, 2)]
    public void RetryUnavailable_RetriesOnlyUnavailable_100msDoublingTo500ms(int? asked, int attempts)
    {
        var (_, channel) = Registered(services =>
        {
            var client = services.AddVeilGrpcClient<IdentityService.IdentityServiceClient>("identity");
            _ = asked is { } n ? client.RetryUnavailable(n) : client.RetryUnavailable();
        });

        var method = Assert.Single(channel.ServiceConfig!.MethodConfigs);
        var name = Assert.Single(method.Names);
        Assert.Same(Grpc.Net.Client.Configuration.MethodName.Default, name);
        var retry = method.RetryPolicy!;
        Assert.Equal(attempts, retry.MaxAttempts);
        Assert.Equal(TimeSpan.FromMilliseconds(100), retry.InitialBackoff);
        Assert.Equal(TimeSpan.FromMilliseconds(500), retry.MaxBackoff);
        Assert.Equal(2, retry.BackoffMultiplier);
        Assert.Equal([StatusCode.Unavailable], retry.RetryableStatusCodes);
    }

    private static (Uri? Address, GrpcChannelOptions Channel) Registered(Action<IServiceCollection> register)
    {
        var services = new ServiceCollection();
        register(services);
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptionsMonitor<GrpcClientFactoryOptions>>().Get(nameof(IdentityService.IdentityServiceClient));
        var channel = new GrpcChannelOptions();
        foreach (var configure in options.ChannelOptionsActions)
        {
            configure(channel);
        }
        return (options.Address, channel);
    }
}
