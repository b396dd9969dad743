using Veil.ServiceDefaults.Data;

namespace Veil.Edge.Tests;

/// <summary>The one resource-id format (defaults/Data/ResourceIds.cs) every service's rows use.</summary>
public sealed class ResourceIdsTests
{
    [Fact]
    public void New_IsThePrefixAnUnderscoreAndTwentyBase58Characters()
    {
        var id = ResourceIds.New("sub");

        Assert.Matches("^sub_[1-9A-HJ-NP-Za-km-z]{20}$", id);
    }

    [Fact]
    public void New_DoesNotRepeat()
    {
        var ids = Enumerable.Range(0, 100_000).Select(_ => ResourceIds.New("inv")).ToHashSet();

        Assert.Equal(100_000, ids.Count);
    }
}
