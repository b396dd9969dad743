using System.Net;
using Google.Rpc;
using Grpc.Core;
using Veil.Identity.V1;

namespace Veil.Identity.Tests;

/// <summary>SignUp, SignIn and GetMe over REST and gRPC.</summary>
public sealed class AccountTests(IdentityFixture fixture) : IClassFixture<IdentityFixture>
{
    private readonly IdentityService.IdentityServiceClient _client = fixture.Client;
    private readonly HttpClient _rest = fixture.Rest;

    [Fact]
    public async Task SignUp_ProviderOverRest_ReturnsAccountAndSession()
    {
        var email = Api.NewEmail();

        var response = await _rest.PostJsonAsync("v1/auth/signup", new { email = "  " + email.ToUpperInvariant(), password = Api.Password, role = "PROVIDER" });

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToJsonString());
        Assert.StartsWith("acc_", (string?)body["account"]!["id"]);
        Assert.Equal(email, (string?)body["account"]!["email"]);
        Assert.Equal(email[..email.IndexOf('@')], (string?)body["account"]!["displayName"]);
        Assert.Equal("PROVIDER", (string?)body["account"]!["role"]);
        Assert.Equal("Bearer", (string?)body["session"]!["tokenType"]);
        Assert.False(string.IsNullOrEmpty((string?)body["session"]!["accessToken"]));
        Assert.Equal(43, ((string?)body["session"]!["refreshToken"])!.Length);
    }

    [Fact]
    public async Task SignUp_OverGrpc_StoresOnlyAPasswordHash()
    {
        var response = await _client.SignUpAsync(Role.Consumer);

        Assert.Equal(Role.Consumer, response.Account.Role);
        var rows = await fixture.Host.QueryAsync("SELECT password_hash FROM accounts WHERE id = @id;", ("@id", response.Account.Id));
        var hash = Assert.IsType<string>(Assert.Single(rows)[0]);
        Assert.DoesNotContain(Api.Password, hash, StringComparison.Ordinal);
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM audit_log WHERE action = 'account.signup' AND account_id = @id;", ("@id", response.Account.Id)));
    }

    public static TheoryData<string, string, string, string, string> BadSignUps => new()
    {
        // email, password, role, display name, the field named in errors
        { "", Api.Password, "CONSUMER", "", "email" },
        { "not-an-email", Api.Password, "CONSUMER", "", "email" },
        { "a@b", Api.Password, "CONSUMER", "", "email" },
        { "a b@example.test", Api.Password, "CONSUMER", "", "email" },
        { "a@@example.test", Api.Password, "CONSUMER", "", "email" },
        { "Someone <a@example.test>", Api.Password, "CONSUMER", "", "email" },
        { new string('x', 250) + "@example.test", Api.Password, "CONSUMER", "", "email" },
        { "{new}", "short", "CONSUMER", "", "password" },
        { "{new}", "elevenchars", "CONSUMER", "", "password" },
        { "{new}", new string('p', 257), "CONSUMER", "", "password" },
        { "{new}", Api.Password, "UNSPECIFIED", "", "role" },
        { "{new}", Api.Password, "ADMIN", "", "role" },
        { "{new}", Api.Password, "BILLING_MANAGER", "", "role" },
        { "{new}", Api.Password, "CONSUMER", new string('n', 101), "displayName" },
    };

    [Theory]
    [MemberData(nameof(BadSignUps))]
    public async Task SignUp_InvalidField_Returns400NamingTheField(string email, string password, string role, string displayName, string field)
    {
        email = email == "{new}" ? Api.NewEmail() : email;

        var response = await _rest.PostJsonAsync("v1/auth/signup", new { email, password, role, displayName });

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body.ToJsonString());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = body["errors"]!.AsObject();
        Assert.True(errors.ContainsKey(field), body.ToJsonString());
        Assert.Single(errors);
        Assert.Empty(await fixture.Host.QueryAsync("SELECT 1 FROM accounts WHERE email = @email;", ("@email", email.Trim().ToLowerInvariant())));
    }

    [Fact]
    public async Task SignUp_EverythingWrongOverGrpc_ReturnsInvalidArgumentWithEveryField()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _client.SignUpAsync(new SignUpRequest { Email = "nope", Password = "short" }, Api.Call()).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        var badRequest = ex.GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        Assert.Equal(["email", "password", "role"], badRequest.FieldViolations.Select(v => v.Field).Order());
    }

    [Fact]
    public async Task SignUp_DuplicateEmailInOtherCase_Returns409()
    {
        var email = Api.NewEmail();
        await _client.SignUpAsync(Role.Consumer, email);

        var response = await _rest.PostJsonAsync("v1/auth/signup", new { email = email.ToUpperInvariant(), password = Api.Password, role = "PROVIDER" });
        var ex = await Assert.ThrowsAsync<RpcException>(() => _client.SignUpAsync(Role.Provider, email));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(StatusCode.AlreadyExists, ex.StatusCode);
        Assert.Single(await fixture.Host.QueryAsync("SELECT 1 FROM accounts WHERE email = @email;", ("@email", email)));
    }

    [Fact]
    public async Task SignIn_CorrectPasswordAnyCase_ReturnsNewSession()
    {
        var email = Api.NewEmail();
        var signedUp = await _client.SignUpAsync(Role.Provider, email);

        var signedIn = await _client.SignInAsync(new SignInRequest { Email = email.ToUpperInvariant(), Password = Api.Password }, Api.Call());

        Assert.Equal(signedUp.Account.Id, signedIn.Account.Id);
        Assert.Equal(Role.Provider, signedIn.Account.Role);
        Assert.NotEqual(signedUp.Session.RefreshToken, signedIn.Session.RefreshToken);
        var me = await _client.GetMeAsync(new GetMeRequest(), Api.Call(signedIn.Session.AccessToken));
        Assert.Equal(email, me.Account.Email);
    }

    [Fact]
    public async Task SignIn_WrongPasswordOrUnknownEmail_Returns401WithIdenticalBody()
    {
        var email = Api.NewEmail();
        var account = await _client.SignUpAsync(Role.Consumer, email);

        var wrongPassword = await _rest.PostJsonAsync("v1/auth/signin", new { email, password = Api.Password + "!" });
        var unknownEmail = await _rest.PostJsonAsync("v1/auth/signin", new { email = Api.NewEmail(), password = Api.Password });
        var grpcWrong = await Assert.ThrowsAsync<RpcException>(() =>
            _client.SignInAsync(new SignInRequest { Email = email, Password = "x" }, Api.Call()).ResponseAsync);
        var grpcUnknown = await Assert.ThrowsAsync<RpcException>(() =>
            _client.SignInAsync(new SignInRequest { Email = Api.NewEmail(), Password = Api.Password }, Api.Call()).ResponseAsync);

        Assert.Equal(HttpStatusCode.Unauthorized, wrongPassword.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknownEmail.StatusCode);
        var wrongBody = await wrongPassword.Content.ReadAsStringAsync(Api.Ct);
        Assert.Equal(wrongBody, await unknownEmail.Content.ReadAsStringAsync(Api.Ct));
        Assert.Contains("incorrect", wrongBody, StringComparison.Ordinal);
        Assert.Equal(StatusCode.Unauthenticated, grpcWrong.StatusCode);
        Assert.Equal(grpcWrong.Status.Detail, grpcUnknown.Status.Detail);
        var audit = await fixture.Host.QueryAsync("SELECT target, detail FROM audit_log WHERE action = 'auth.signin_failed' AND account_id = @id;", ("@id", account.Account.Id));
        Assert.Equal(2, audit.Count);
        Assert.All(audit, row => Assert.DoesNotContain(row, value => value is string s && s.Contains(Api.Password, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task GetMe_WithoutToken_Returns401()
    {
        var response = await _rest.GetAsync("v1/accounts/me", accessToken: null);
        var ex = await Assert.ThrowsAsync<RpcException>(() => _client.GetMeAsync(new GetMeRequest(), Api.Call()).ResponseAsync);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Fact]
    public async Task GetMe_WithToken_Returns200()
    {
        var account = await _client.SignUpAsync(Role.Consumer);

        var response = await _rest.GetAsync("v1/accounts/me", account.Session.AccessToken);

        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal(account.Account.Id, (string?)body["account"]!["id"]);
        Assert.Equal("CONSUMER", (string?)body["account"]!["role"]);
    }

    [Fact]
    public async Task GetMe_WithTamperedToken_Returns401()
    {
        var account = await _client.SignUpAsync(Role.Consumer);
        var parts = account.Session.AccessToken.Split('.');
        // Swap in another account's payload: the signature no longer matches.
        var other = (await _client.SignUpAsync(Role.Provider)).Session.AccessToken.Split('.');
        var tampered = string.Join('.', parts[0], other[1], parts[2]);

        var response = await _rest.GetAsync("v1/accounts/me", tampered);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
