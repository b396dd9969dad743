using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Veil.RateLimit.Tests;

/// <summary>
/// Settings are validated at start, nested sections included. The service's own registrations
/// on a plain host (no Kestrel): what matters is that start refuses, naming the setting.
/// </summary>
public sealed class OptionsTests
{
    [Theory]
    [InlineData("RateLimit:LeaseTtl", "00:00:00.001", "LeaseTtl")]
    [InlineData("RateLimit:Memory:MaxBuckets", "1", "MaxBuckets")]
    [InlineData("RateLimit:Memory:SweepInterval", "00:00:00", "SweepInterval")]
    public async Task Start_InvalidSetting_FailsNamingIt(string key, string value, string name)
    {
        using var host = Build(new() { [key] = value });

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains(name, ex.Message);
    }

    [Theory]
    [InlineData("RateLimit:Redis:Timeout", "00:00:00.001", "Timeout")]
    [InlineData("RateLimit:Redis:BreakerBreakDuration", "00:00:00.100", "BreakerBreakDuration")]
    [InlineData("RateLimit:Redis:KeyPrefix", "", "KeyPrefix")]
    public async Task Start_InvalidRedisSetting_FailsNamingIt(string key, string value, string name)
    {
        using var host = Build(new() { ["RateLimit:Redis:Configuration"] = "127.0.0.1:1", [key] = value });

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains(name, ex.Message);
    }

    [Fact]
    public async Task Start_DefaultSettings_Starts()
    {
        using var host = Build([]);
        await host.StartAsync(TestContext.Current.CancellationToken);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddRateLimitServices();
        return builder.Build();
    }
}
