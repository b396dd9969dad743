using Microsoft.AspNetCore.Http;
using Veil.Edge.Metering;

namespace Veil.Edge.Tests;

/// <summary>The path a usage event carries for the call log: as sent, never a query, at most 512 characters.</summary>
public sealed class UsageCallPathTests
{
    [Theory]
    [InlineData("/weather/paris", "/weather/paris")]
    [InlineData("/weather/café?x", "/weather/caf%C3%A9%3Fx")]   // Kestrel decodes %3F: encoded again, never a "?"
    [InlineData("/a b#c", "/a%20b%23c")]
    [InlineData("", "/")]
    public void CallPath_DecodedPath_EncodedAsSentWithoutQuery(string decoded, string expected)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = new PathString(decoded.Length == 0 ? null : decoded);
        context.Request.QueryString = new QueryString("?token=secret");

        Assert.Equal(expected, UsageRecorder.CallPath(context.Request));
    }

    [Theory]
    [InlineData(600, "", 512)]       // plain: cut at 512
    [InlineData(509, "%C3%A9", 512)] // %C3 ends exactly at 512: kept whole
    [InlineData(510, "%C3%A9", 510)] // %C3 would end at 513: cut before it
    [InlineData(508, "%C3%A9", 511)] // %C3 fits, %A9 would end at 514: cut before it
    public void CallPath_LongerThan512_CutWithoutSplittingAnEscape(int plain, string tail, int length)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = new PathString("/" + new string('a', plain - 1) + Uri.UnescapeDataString(tail) + "/more");

        var path = UsageRecorder.CallPath(context.Request);

        Assert.Equal(length, path.Length);
        Assert.True(path.Length <= UsageRecorder.MaxPathLength);
        Assert.DoesNotMatch("%[0-9A-F]?$", path);
    }
}
