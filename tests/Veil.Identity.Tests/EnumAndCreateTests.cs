using System.Net;

namespace Veil.Identity.Tests;

/// <summary>Enum values without their type prefix, and SignUp's 201 (docs/architecture.md, "REST conventions").</summary>
public sealed class EnumAndCreateTests(IdentityFixture fixture) : IClassFixture<IdentityFixture>
{
    [Theory]
    [InlineData("PROVIDER")]
    [InlineData("ROLE_PROVIDER")]
    public async Task SignUp_RoleWithOrWithoutPrefix_AnswersRoleWithoutPrefix(string role)
    {
        var response = await fixture.Rest.PostJsonAsync("v1/auth/signup", new { email = Api.NewEmail(), password = Api.Password, role });

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToJsonString());
        Assert.Equal("/v1/accounts/me", response.Headers.Location?.OriginalString);
        Assert.Equal("PROVIDER", (string?)body["account"]!["role"]);
        using var me = await fixture.Rest.GetAsync("v1/accounts/me", (string?)body["session"]!["accessToken"]);
        Assert.Equal("PROVIDER", (string?)(await me.JsonAsync())["account"]!["role"]);
    }

    [Fact]
    public async Task SignUp_UnknownRole_Returns400()
    {
        var response = await fixture.Rest.PostJsonAsync("v1/auth/signup", new { email = Api.NewEmail(), password = Api.Password, role = "OWNER" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
