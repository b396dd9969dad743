using System.Net;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Veil.Identity.V1;

namespace Veil.Identity.Tests;

/// <summary>Safe defaults for operators: the published admin password, reserved staff emails.</summary>
public sealed class SafeDefaultTests
{
    private const string PublishedPassword = "change-me-admin-password";

    /// <summary>A key-encryption key (32 bytes) so that a Production host starts at all.</summary>
    private static readonly string TestKek = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    [Fact]
    public async Task Start_PublishedAdminPasswordOutsideDevelopment_FailsNamingTheSetting()
    {
        await using var host = new IdentityHost { EnvironmentName = Environments.Production };
        host.With("Identity:Admin:Email", "admin@veil.local").With("Identity:Admin:Password", PublishedPassword)
            .With("Veil:Secrets:Kek", TestKek);

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("Identity:Admin:Password", ex.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Development", PublishedPassword)]
    [InlineData("Production", "a secret admin password")]
    public async Task Start_DevelopmentDefaultOrOwnPassword_BootstrapsTheAdmin(string environment, string password)
    {
        await using var host = new IdentityHost { EnvironmentName = environment };
        // Outside Development identity needs a key-encryption key (docs/identity.md).
        host.With("Identity:Admin:Email", "admin@veil.local").With("Identity:Admin:Password", password).With("Veil:Secrets:Kek", TestKek);
        using var channel = host.CreateGrpcChannel();

        var signedIn = await host.CreateClient(channel).SignInAsync("admin@veil.local", password);

        Assert.Equal(Role.Admin, signedIn.Account.Role);
    }

    [Theory]
    [InlineData("Identity:Admin:Email")]
    [InlineData("Identity:BillingManagers:0:Email")]
    public async Task SignUp_ConfiguredStaffEmailNotYetBootstrapped_Returns409(string setting)
    {
        // Only the email is set: nothing is bootstrapped (the billing manager's missing password
        // is caught by validation, so it gets one; the administrator does not), yet it is reserved.
        await using var host = new IdentityHost();
        host.With(setting, "Staff@Veil.Example");
        if (setting.StartsWith("Identity:BillingManagers", StringComparison.Ordinal))
        {
            host.With("Identity:BillingManagers:0:Password", "billing password long enough");
        }
        using var rest = host.CreateRestClient();

        var response = await rest.PostJsonAsync("v1/auth/signup", new { email = "staff@veil.example", password = Api.Password, role = "CONSUMER" });

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Empty(await host.QueryAsync("SELECT 1 FROM accounts WHERE email = 'staff@veil.example' AND role = 'consumer';"));
    }

    [Theory]
    [InlineData("Identity:Admin:Email", "Identity:Admin:Password", "Identity:Admin:Email")]
    [InlineData("Identity:BillingManagers:0:Email", "Identity:BillingManagers:0:Password", "Identity:BillingManagers")]
    public async Task Start_StaffEmailTakenByAnotherRole_FailsNamingTheSetting(string emailSetting, string passwordSetting, string named)
    {
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            string email;
            await using (var first = new IdentityHost(dataDirectory))
            {
                using var channel = first.CreateGrpcChannel();
                email = (await first.CreateClient(channel).SignUpAsync(Role.Consumer)).Account.Email;
            }

            await using var host = new IdentityHost(dataDirectory);
            host.With(emailSetting, email.ToUpperInvariant()).With(passwordSetting, "staff password long enough");

            var ex = Assert.ThrowsAny<Exception>(() => host.Start());

            Assert.Contains(named, ex.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task SignUp_AfterFailedStart_NothingWasPromoted()
    {
        // Guard for the rule above: the consumer keeps its role when a start is refused.
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            string email;
            await using (var first = new IdentityHost(dataDirectory))
            {
                using var channel = first.CreateGrpcChannel();
                email = (await first.CreateClient(channel).SignUpAsync(Role.Consumer)).Account.Email;
            }
            await using (var refused = new IdentityHost(dataDirectory))
            {
                refused.With("Identity:Admin:Email", email).With("Identity:Admin:Password", "staff password long enough");
                Assert.ThrowsAny<Exception>(() => refused.Start());
            }

            await using var host = new IdentityHost(dataDirectory);
            using var again = host.CreateGrpcChannel();
            var signedIn = await host.CreateClient(again).SignInAsync(email);

            Assert.Equal(Role.Consumer, signedIn.Account.Role);
            var ex = await Assert.ThrowsAsync<RpcException>(() => host.CreateClient(again).SignInAsync(email, "staff password long enough"));
            Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }
}
