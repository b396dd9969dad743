using Microsoft.Extensions.Options;

namespace Veil.RateLimit.Tests;

/// <summary>Settings are validated at start, nested sections included.</summary>
public sealed class OptionsTests
{
    [Theory]
    [InlineData("RateLimit:LeaseTtl", "00:00:00.001", "LeaseTtl")]
    [InlineData("RateLimit:Memory:MaxBuckets", "1", "MaxBuckets")]
    [InlineData("RateLimit:Memory:SweepInterval", "00:00:00", "SweepInterval")]
    public async Task Start_InvalidSetting_FailsNamingIt(string key, string value, string name)
    {
        await using var host = new RateLimitHost();
        host.With(key, value);

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        var validation = Assert.IsType<OptionsValidationException>(ex.GetBaseException());
        Assert.Contains(name, validation.Message);
    }

    [Theory]
    [InlineData("RateLimit:Redis:Timeout", "00:00:00.001", "Timeout")]
    [InlineData("RateLimit:Redis:BreakerBreakDuration", "00:00:00.100", "BreakerBreakDuration")]
    [InlineData("RateLimit:Redis:KeyPrefix", "", "KeyPrefix")]
    public async Task Start_InvalidRedisSetting_FailsNamingIt(string key, string value, string name)
    {
        await using var host = RateLimitHost.ForRedis("127.0.0.1:1");
        host.With(key, value);

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        var validation = Assert.IsType<OptionsValidationException>(ex.GetBaseException());
        Assert.Contains(name, validation.Message);
    }
}
