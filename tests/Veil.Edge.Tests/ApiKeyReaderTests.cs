using Microsoft.AspNetCore.Http;
using Veil.Edge.Pipeline;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Tests;

public sealed class ApiKeyReaderTests
{
    private static readonly string Key = ApiKeyFormat.Generate();

    [Fact]
    public void Read_XApiKey_ReturnsKey()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["X-Api-Key"] = Key };
        Assert.Equal(Key, ApiKeyReader.Read(headers));
    }

    [Fact]
    public void Read_BearerVeilKey_ReturnsKey()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["Authorization"] = "Bearer " + Key };
        Assert.Equal(Key, ApiKeyReader.Read(headers));
        Assert.True(ApiKeyReader.IsVeilCredential(headers.Authorization));
    }

    [Fact]
    public void Read_BearerJwt_ReturnsNullAndIsNotAVeilCredential()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["Authorization"] = "Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig" };
        Assert.Null(ApiKeyReader.Read(headers));
        Assert.False(ApiKeyReader.IsVeilCredential(headers.Authorization));
    }

    [Fact]
    public void Read_NoHeaders_ReturnsNull() => Assert.Null(ApiKeyReader.Read(new HeaderDictionary()));

    [Fact]
    public void Read_TwoKeys_ReturnsSomethingMalformed()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["X-Api-Key"] = new([Key, ApiKeyFormat.Generate()]) };
        var read = ApiKeyReader.Read(headers);
        Assert.NotNull(read);
        Assert.False(ApiKeyFormat.IsWellFormed(read));
    }

    [Theory]
    [InlineData("abc-123_X.y", true)]
    [InlineData("", false)]
    [InlineData("has space", false)]
    [InlineData("semi;colon", false)]
    [InlineData("ünï", false)]
    public void IsSane_RequestIds(string value, bool sane) => Assert.Equal(sane, RequestIdMiddleware.IsSane(value));

    [Fact]
    public void IsSane_TooLong_False()
    {
        Assert.True(RequestIdMiddleware.IsSane(new string('a', 128)));
        Assert.False(RequestIdMiddleware.IsSane(new string('a', 129)));
    }
}
