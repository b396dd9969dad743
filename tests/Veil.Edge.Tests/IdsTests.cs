using Veil.Edge.Calls;

namespace Veil.Edge.Tests;

public sealed class IdsTests
{
    [Fact]
    public void EventId_IsAUuidV7CarryingItsMillisecond()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_764_250_000_123);

        var id = Guid.Parse(Ids.NewEventId(at));

        Assert.Equal(7, id.Version);
        Assert.Equal(0b10, id.Variant >> 2); // RFC 9562 variant
        var bytes = id.ToByteArray(bigEndian: true);
        var ms = ((long)bytes[0] << 40) | ((long)bytes[1] << 32) | ((long)bytes[2] << 24) | ((long)bytes[3] << 16) | ((long)bytes[4] << 8) | bytes[5];
        Assert.Equal(at.ToUnixTimeMilliseconds(), ms);
        // Same layout as the framework's own v7: the first 12 hex digits are the same millisecond.
        Assert.Equal(Guid.CreateVersion7(at).ToString()[..13], id.ToString()[..13]);
    }

    [Fact]
    public void EventIds_AreUniqueAndOrderedByTime()
    {
        var at = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, 100_000).Select(_ => Ids.NewEventId(at)).ToHashSet();
        Assert.Equal(100_000, ids.Count);
        Assert.True(string.CompareOrdinal(Ids.NewEventId(at), Ids.NewEventId(at.AddMilliseconds(1))) < 0);
    }

    [Fact]
    public void RequestIds_Are32HexDigitsAndUnique()
    {
        var ids = Enumerable.Range(0, 100_000).Select(_ => Ids.NewRequestId()).ToHashSet();
        Assert.Equal(100_000, ids.Count);
        Assert.All(ids.Take(100), id => Assert.Matches("^[0-9a-f]{32}$", id));
    }
}
