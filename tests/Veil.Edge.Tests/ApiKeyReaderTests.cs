using Microsoft.AspNetCore.Http;
using Veil.Edge.Auth;
using Veil.Edge.Calls;
using Veil.Edge.Forwarding;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Tests;

public sealed class ApiKeyReaderTests
{
    private static readonly string Key = ApiKeyFormat.Generate();

    private static ReadOnlySpan<byte> Issuer => "veil-identity"u8;

    private static string Jwt(string payloadJson) =>
        "eyJhbGciOiJFUzI1NiJ9." + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(payloadJson)).TrimEnd('=').Replace('+', '-').Replace('/', '_') + ".c2ln";

    [Theory]
    [InlineData("""{"aud":"veil-api","iss":"veil-identity","sub":"acc_1"}""", true)]
    [InlineData("""{"nested":{"iss":"other"},"iss":"veil-identity"}""", true)]
    [InlineData("""{"iss":"veil\u002didentity"}""", true)]
    [InlineData("""{"iss":"https://login.provider.example"}""", false)]
    [InlineData("""{"iss":["veil-identity"]}""", false)]
    [InlineData("""{"sub":"veil-identity"}""", false)]
    [InlineData("""not json""", false)]
    public void IsVeilCredential_BearerJwt_TrueOnlyForVeilsIssuer(string payload, bool veil)
    {
        IHeaderDictionary headers = new HeaderDictionary { ["Authorization"] = "Bearer " + Jwt(payload) };
        Assert.Equal(veil, VeilCredentials.IsVeilCredential(headers.Authorization, Issuer));
        Assert.Null(ApiKeyReader.Read(headers)); // a session token is never an API key
    }

    [Theory]
    [InlineData("Bearer eyJ")]
    [InlineData("Bearer eyJ.%%%.x")]
    [InlineData("Basic dmVpbC1pZGVudGl0eQ==")]
    [InlineData("Bearer opaque-provider-token")]
    public void IsVeilCredential_OtherAuthorization_False(string value) =>
        Assert.False(VeilCredentials.IsVeilCredential(value, Issuer));

    [Fact]
    public void Read_HeaderAndDifferentBearerKey_ReturnsSomethingMalformed()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["X-Api-Key"] = Key, ["Authorization"] = "Bearer " + ApiKeyFormat.Generate() };
        var read = ApiKeyReader.Read(headers);
        Assert.NotNull(read);
        Assert.False(ApiKeyFormat.HasKeyShape(read));
    }

    [Fact]
    public void Read_HeaderAndSameBearerKey_ReturnsTheKey()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["X-Api-Key"] = Key, ["Authorization"] = "Bearer " + Key };
        Assert.Equal(Key, ApiKeyReader.Read(headers));
    }

    [Theory]
    [InlineData("X-Real-IP", true)]
    [InlineData("x-client-ip", true)]
    [InlineData("True-Client-IP", true)]
    [InlineData("CF-Connecting-IP", true)]
    [InlineData("X-Original-URL", true)]
    [InlineData("X-Forwarded-For", true)]
    [InlineData("forwarded", true)]
    [InlineData("X-Veil-Plan", true)]
    [InlineData("X-Realm", false)]
    [InlineData("Content-Type", false)]
    [InlineData("Cookie", false)]
    [InlineData("Accept", false)]
    public void IsClientSpoofable_Headers(string name, bool dropped) => Assert.Equal(dropped, EdgeRequestTransform.IsClientSpoofable(name));

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
        Assert.True(VeilCredentials.IsVeilCredential(headers.Authorization, Issuer));
    }

    [Fact]
    public void Read_BearerJwt_ReturnsNullAndIsNotAVeilCredential()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["Authorization"] = "Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig" };
        Assert.Null(ApiKeyReader.Read(headers));
        Assert.False(VeilCredentials.IsVeilCredential(headers.Authorization, Issuer));
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
