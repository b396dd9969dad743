using Veil.ServiceDefaults.Grpc;

namespace Veil.Edge.Tests;

/// <summary>The one page-token format and its number cursors (defaults/Grpc/Paging.cs).</summary>
public sealed class PageTokenTests
{
    [Fact]
    public void DecodeNumber_ReadsWhatEncodeWrote()
    {
        var errors = new FieldViolations();

        Assert.Equal(42L, PageToken.DecodeNumber(errors, PageToken.Encode("ListAdjustments", "42"), "ListAdjustments"));
        Assert.Null(PageToken.DecodeNumber(errors, "", "ListAdjustments"));
        Assert.True(errors.IsEmpty);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("x")]
    [InlineData("")]
    public void DecodeNumber_RefusesAKeyThatIsNotAWholeNumber(string key)
    {
        var errors = new FieldViolations();

        Assert.Null(PageToken.DecodeNumber(errors, PageToken.Encode("ListAdjustments", key), "ListAdjustments"));
        Assert.False(errors.IsEmpty);
    }

    [Fact]
    public void DecodeNumberAndId_ReadsASignedNumberThenTheId()
    {
        var errors = new FieldViolations();

        Assert.Equal((-5L, "inv_1"), PageToken.DecodeNumberAndId(errors, PageToken.Encode("ListInvoices", "-5", "inv_1"), "ListInvoices"));
        Assert.True(errors.IsEmpty);
    }

    [Fact]
    public void DecodeNumberAndId_RefusesAnotherListsToken()
    {
        var errors = new FieldViolations();

        Assert.Null(PageToken.DecodeNumberAndId(errors, PageToken.Encode("ListApiKeys", "5", "key_1"), "ListInvoices"));
        Assert.False(errors.IsEmpty);
    }
}
