using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;

namespace Veil.Cli.Tests;

/// <summary>Sign-in, the per-resource commands, errors and exit codes, through the real edge.</summary>
public sealed class CommandTests(CliFleet fleet) : IClassFixture<CliFleet>
{
    private static string NewSlug() => "api-" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Login_PasswordStdin_StoresSessionForTheServerWithMode0600()
    {
        using var user = new CliUser(fleet.Server);
        var account = await fleet.NewProviderAsync();

        var login = await user.RunWithInputAsync(account.Password + "\n", "login", "--email", account.Email, "--password-stdin");

        login.AssertOk();
        Assert.Contains($"as {account.Email} (provider)", login.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(user.CredentialsPath));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(user.CredentialsPath));
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(user.CredentialsPath)!, "*.tmp"));
        }
        var stored = JsonNode.Parse(File.ReadAllText(user.CredentialsPath))!;
        Assert.Equal(fleet.Server + "/", (string)stored["server"]!);
        Assert.DoesNotContain(account.Password, File.ReadAllText(user.CredentialsPath), StringComparison.Ordinal);
        // The stored token works for the account.
        var me = await fleet.GetAsync("v1/accounts/me", user.AccessToken);
        Assert.Equal(account.Email, (string)me["account"]!["email"]!);
    }

    [Fact]
    public async Task Login_WrongPassword_Exits1WithTheServersProblemAndStoresNothing()
    {
        using var user = new CliUser(fleet.Server);
        var account = await fleet.NewProviderAsync();

        var login = await user.RunWithInputAsync("not-the-password\n", "login", "--email", account.Email, "--password-stdin");

        Assert.Equal(1, login.ExitCode);
        Assert.Contains("POST /v1/auth/signin → 401", login.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(user.CredentialsPath));
    }

    [Fact]
    public async Task Logout_SignsOutOnTheServerAndRemovesTheFile()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var refreshToken = (string)JsonNode.Parse(File.ReadAllText(user.CredentialsPath))!["refreshToken"]!;

        var logout = await user.RunAsync("logout");

        logout.AssertOk();
        Assert.False(File.Exists(user.CredentialsPath));
        using var http = fleet.Edge.CreateRestClient();
        using var refresh = await http.PostAsJsonAsync("v1/auth/refresh", new { refreshToken }, TestContext.Current.CancellationToken);
        Assert.False(refresh.IsSuccessStatusCode, "the refresh token still works after logout");
    }

    [Fact]
    public async Task ApisCreateGetList_ThroughTheEdge()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();

        var create = await user.RunAsync("apis", "create", "--slug", slug, "--name", "Veil Weather", "--upstream-url", "http://localhost:5900",
            "--timeout-ms", "5000", "--description", "Forecasts for any city");
        var get = await user.RunAsync("apis", "get", slug, "--output", "json");
        var list = await user.RunAsync("apis", "list", "--mine");
        var listJson = await user.RunAsync("--output", "json", "apis", "list", "--query", slug);

        create.AssertOk();
        Assert.Matches(@"slug:\s+" + slug, create.Out);
        var api = get.Json();
        Assert.Equal("Veil Weather", (string)api["name"]!);
        Assert.Equal("http://localhost:5900", ((string)api["upstreamUrl"]!).TrimEnd('/'));
        list.AssertOk();
        Assert.Matches(@"^SLUG\s+ID\s+NAME\s+VERSION", list.Out);
        Assert.Matches(slug + @"\s+" + (string)api["id"]! + @"\s+Veil Weather\s+1", list.Out);
        Assert.Equal([slug], listJson.Json()["apis"]!.AsArray().Select(a => (string)a!["slug"]!));
    }

    [Fact]
    public async Task ApisCreate_InvalidSlug_PrintsEachFieldErrorAndExits1()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());

        var create = await user.RunAsync("apis", "create", "--slug", "Bad_Slug", "--name", "Bad", "--upstream-url", "http://localhost:5900");

        Assert.Equal(1, create.ExitCode);
        Assert.Contains("POST /v1/apis → 400", create.Error, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^  slug: \S", create.Error);
    }

    [Fact]
    public async Task ApisHistoryDiffRollback_ThroughTheCli()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        (await user.RunAsync("apis", "create", "--slug", slug, "--name", "One", "--upstream-url", "http://localhost:5900")).AssertOk();
        var file = user.WriteFile("veil.yaml", $"apis:\n  - slug: {slug}\n    name: Two\n    upstreamUrl: http://localhost:5901\n");
        (await user.RunAsync("apply", "-f", file)).AssertOk();

        var diff = await user.RunAsync("apis", "diff", slug, "2");
        var diffJson = await user.RunAsync("apis", "diff", slug, "2", "--against", "1", "--output", "json");
        var rollback = await user.RunAsync("apis", "rollback", slug, "1");
        var history = await user.RunAsync("apis", "history", slug);
        var drift = await user.RunAsync("apply", "-f", file, "--dry-run", "--exit-code");

        diff.AssertOk();
        Assert.Contains("v1 → v2: 2 change(s)", diff.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^name\s+""One""\s+""Two""", diff.Out);
        var fields = diffJson.Json()["changes"]!.AsArray().Select(c => (string)c!["field"]!).Order().ToList();
        Assert.Equal(["name", "upstream_url"], fields);
        rollback.AssertOk();
        Assert.Contains("current version is now v3", rollback.Out, StringComparison.Ordinal);
        history.AssertOk();
        Assert.Matches(@"(?m)^3\s.*\sOne\s+http://localhost:5900", history.Out);
        // The file still says "Two": after the rollback, the server has drifted from it.
        Assert.Equal(3, drift.ExitCode);
    }

    [Fact]
    public async Task PlansAndKeys_CreateListRevokeRotate()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        (await user.RunAsync("apis", "create", "--slug", slug, "--name", "Plans", "--upstream-url", "http://localhost:5900")).AssertOk();

        var plan = await user.RunAsync("plans", "create", "--api", slug, "--name", "Free", "--rps", "10", "--monthly-quota", "1000", "--output", "json");
        var plans = await user.RunAsync("plans", "list", "--api", slug);
        var key = await user.RunAsync("keys", "create", "--name", "laptop", "--output", "json");
        var keyId = (string)key.Json()["apiKey"]!["id"]!;
        var rotate = await user.RunAsync("keys", "rotate", keyId, "--overlap", "0:10:00", "--output", "json");
        var newKeyId = (string)rotate.Json()["apiKey"]!["id"]!;
        var revoke = await user.RunAsync("keys", "revoke", newKeyId);
        var keys = await user.RunAsync("keys", "list", "--output", "json");

        Assert.Equal("Free", (string)plan.Json()["name"]!);
        Assert.Matches(@"Free\s+10\s+10\s+1000", plans.Out);
        Assert.StartsWith("veil_", (string)key.Json()["key"]!, StringComparison.Ordinal);
        Assert.NotEqual(keyId, newKeyId);
        revoke.AssertOk();
        var listed = keys.Json()["apiKeys"]!.AsArray();
        Assert.Equal(2, listed.Count);
        Assert.NotNull(listed.Single(k => (string)k!["id"]! == newKeyId)!["revokeTime"]);
    }

    [Fact]
    public async Task BadArguments_Exit2()
    {
        using var user = new CliUser(fleet.Server);

        var unknown = await user.RunAsync("apis", "frobnicate");
        var missing = await user.RunAsync("apis", "create", "--slug", "x");
        var notANumber = await user.RunAsync("apis", "rollback", "weather", "latest");
        var badFormat = await user.RunAsync("apis", "list", "--output", "xml");
        var exitCodeAlone = await user.RunAsync("apply", "-f", "veil.yaml", "--exit-code");

        Assert.Equal(2, unknown.ExitCode);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--name", missing.Error, StringComparison.Ordinal);
        Assert.Equal(2, notANumber.ExitCode);
        Assert.Equal(2, badFormat.ExitCode);
        Assert.Equal(2, exitCodeAlone.ExitCode);
        Assert.Contains("--exit-code applies only with --dry-run", exitCodeAlone.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SuggestDirective_CompletesCommandsAndOptionValues()
    {
        using var user = new CliUser(fleet.Server);

        var command = await user.RunAsync("[suggest:7]", "apis ro");
        var format = await user.RunAsync("[suggest:19]", "apis list --output j");

        command.AssertOk();
        Assert.Equal("rollback", command.Out.Trim());
        Assert.Equal("json", format.Out.Trim());
    }

    [Fact]
    public async Task ExpiredAccessToken_IsRefreshedWithTheRefreshTokenAndStored()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var before = JsonNode.Parse(File.ReadAllText(user.CredentialsPath))!;
        // The CLI's clock past the access token's expiry (the refresh token lives much longer).
        user.Time = new FakeTimeProvider(before["accessTokenExpireTime"]!.GetValue<DateTimeOffset>().AddMinutes(1));

        var list = await user.RunAsync("apis", "list", "--mine");

        list.AssertOk();
        var after = JsonNode.Parse(File.ReadAllText(user.CredentialsPath))!;
        Assert.NotEqual((string)before["refreshToken"]!, (string)after["refreshToken"]!);
        Assert.NotEqual((string)before["accessToken"]!, (string)after["accessToken"]!);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(user.CredentialsPath));
        }
    }

    [Fact]
    public async Task OtherServer_NeverReceivesTheStoredToken()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var received = AnswerOneRequestAsync(listener, "404 Not Found");

        var run = await user.RunAsync("apis", "list", "--server", $"http://127.0.0.1:{port}");

        var request = await received.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("GET /v1/apis", request, StringComparison.Ordinal);
        Assert.DoesNotContain("Authorization", request, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task BuiltTool_InARealDotnetProcess_ReadsVeilServerAndExitCodes()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        (await user.RunAsync("apis", "create", "--slug", slug, "--name", "Process", "--upstream-url", "http://localhost:5900")).AssertOk();

        var get = await RunProcessAsync(user, "apis", "get", slug, "--output", "json");
        var usage = await RunProcessAsync(user, "apis", "rollback");

        Assert.True(get.ExitCode == 0, get.Error);
        Assert.Equal(slug, (string)JsonNode.Parse(get.Out)!["slug"]!);
        Assert.Equal(2, usage.ExitCode);
    }

    private static async Task<CliRun> RunProcessAsync(CliUser user, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "veil.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in user.Environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new CliRun(process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task PlansUpdate_ServerWithoutPlanEditing_SaysSoAndExits1()
    {
        using var user = new CliUser(fleet.Server);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        // What a server without PATCH /v1/plans/{id} answers: the route allows other methods only.
        var received = AnswerOneRequestAsync(listener, "405 Method Not Allowed");

        var run = await user.RunAsync("plans", "update", "plan_abc", "--rps", "5", "--server", $"http://127.0.0.1:{port}");

        var request = await received.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.StartsWith("PATCH /v1/plans/plan_abc ", request, StringComparison.Ordinal);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("cannot edit plans (PATCH /v1/plans/plan_abc answered 405): plans are immutable on this server", run.Error, StringComparison.Ordinal);
    }

    /// <summary>Accepts one connection, reads the request head, answers <paramref name="status"/> with no body and returns the head.</summary>
    private static async Task<string> AnswerOneRequestAsync(TcpListener listener, string status)
    {
        using var client = await listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                break;
            }
            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        return head.ToString();
    }
}
