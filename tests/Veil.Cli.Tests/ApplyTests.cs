using System.Text.Json.Nodes;
using Veil.Testing;

namespace Veil.Cli.Tests;

/// <summary><c>veil apply</c>, <c>--dry-run</c> and <c>veil export</c> against the real edge and services.</summary>
public sealed class ApplyTests(CliFleet fleet) : IClassFixture<CliFleet>
{
    private static string Yaml(string slug, string description = "Forecasts for any city", string healthPath = "/health", int freeRps = 10) => $"""
        apis:
          - slug: {slug}
            name: Veil Weather
            description: {description}
            upstreamUrl: http://localhost:5900
            timeoutMs: 5000
            policies:
              healthCheck:
                path: {healthPath}
                intervalMs: 5000
              retry:
                enabled: false
              cors:
                allowedOrigins: [https://app.example.com]
            plans:
              - name: Free
                requestsPerSecond: {freeRps}
                burst: 20
                monthlyQuota: 10000
              - name: Pro
                requestsPerSecond: 100
                monthlyQuota: 1000000
                basePriceMinor: 1900
                overageAllowed: true
        """;

    private static string NewSlug() => "weather-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<int> VersionCountAsync(CliUser user, string slug) =>
        (await fleet.GetAsync($"v1/apis/{slug}/versions?pageSize=100", user.AccessToken))["versions"]!.AsArray().Count;

    private async Task<int> PlanCountAsync(string slug) =>
        (await fleet.GetAsync($"v1/plans?apiId={slug}", "none"))["plans"]!.AsArray().Count;

    [Fact]
    public async Task Apply_NewFile_CreatesApiAndPlans_SecondApplyIsNoOpAndCreatesNoVersion()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        var file = user.WriteFile("veil.yaml", Yaml(slug));

        var first = await user.RunAsync("apply", "-f", file, "--output", "json");

        var changes = first.Json()["changes"]!.AsArray();
        Assert.Equal(["create", "create", "create"], changes.Select(c => (string)c!["action"]!));
        var api = (await fleet.GetAsync($"v1/apis/{slug}", user.AccessToken))["api"]!;
        Assert.Equal("Forecasts for any city", (string)api["description"]!);
        Assert.Equal("/health", (string)api["policies"]!["healthCheck"]!["path"]!);
        Assert.Equal(2, await PlanCountAsync(slug));
        Assert.Equal(1, await VersionCountAsync(user, slug));

        var second = await user.RunAsync("apply", "-f", file, "--output", "json");

        var again = second.Json();
        Assert.All(again["changes"]!.AsArray(), c => Assert.Equal("no-op", (string)c!["action"]!));
        Assert.False((bool)again["drift"]!);
        Assert.Equal(1, await VersionCountAsync(user, slug));
        Assert.Equal(2, await PlanCountAsync(slug));
    }

    [Fact]
    public async Task ApplyDryRun_ChangedFile_PrintsUpdateWithFieldsAndChangesNothing_ExitCodeGives3()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        (await user.RunAsync("apply", "-f", user.WriteFile("veil.yaml", Yaml(slug)))).AssertOk();
        var changed = user.WriteFile("changed.yaml", Yaml(slug, description: "Forecasts, now with wind", healthPath: "/alive"));

        var dry = await user.RunAsync("apply", "-f", changed, "--dry-run");
        var gated = await user.RunAsync("apply", "-f", changed, "--dry-run", "--exit-code");

        dry.AssertOk();
        Assert.Matches(@"update\s+api\s+" + slug + @"\s+description, policies\.healthCheck\.path", dry.Out);
        Assert.Contains("Plan: 0 to create, 1 to update, 2 unchanged.", dry.Out, StringComparison.Ordinal);
        Assert.Equal(3, gated.ExitCode);
        Assert.Equal(1, await VersionCountAsync(user, slug));
        var api = (await fleet.GetAsync($"v1/apis/{slug}", user.AccessToken))["api"]!;
        Assert.Equal("Forecasts for any city", (string)api["description"]!);

        // A plan's terms are compared too (plans are matched by API slug and name).
        var plan = await user.RunAsync("apply", "-f", user.WriteFile("plan.yaml", Yaml(slug, freeRps: 15)), "--dry-run");
        Assert.Matches(@"update\s+plan\s+" + slug + @"/Free\s+requestsPerSecond\n", plan.Out);
        Assert.Matches(@"no-op\s+plan\s+" + slug + @"/Pro", plan.Out);

        // No drift: --exit-code exits 0.
        var clean = await user.RunAsync("apply", "-f", user.WriteFile("same.yaml", Yaml(slug)), "--dry-run", "--exit-code");
        Assert.Equal(0, clean.ExitCode);

        // The real apply makes exactly one new version with the change.
        (await user.RunAsync("apply", "-f", changed)).AssertOk();
        Assert.Equal(2, await VersionCountAsync(user, slug));
        api = (await fleet.GetAsync($"v1/apis/{slug}", user.AccessToken))["api"]!;
        Assert.Equal("/alive", (string)api["policies"]!["healthCheck"]!["path"]!);
        Assert.Equal(0, (await user.RunAsync("apply", "-f", changed, "--dry-run", "--exit-code")).ExitCode);
    }

    [Fact]
    public async Task Export_ThenApply_IsNoOpEverywhere()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        var openapi = user.WriteFile("weather.openapi.yaml", File.ReadAllText(Path.Combine(RepositoryRoot.Path, "samples", "veil", "weather.openapi.yaml")));
        var yaml = Yaml(slug).Replace("    timeoutMs: 5000\n", "    timeoutMs: 5000\n    openapi: weather.openapi.yaml\n", StringComparison.Ordinal);
        Assert.Contains("openapi:", yaml, StringComparison.Ordinal);
        (await user.RunAsync("apply", "-f", user.WriteFile("veil.yaml", yaml))).AssertOk();
        var exported = Path.Combine(user.Home, "export", "veil.yaml");

        var export = await user.RunAsync("export", "-o", exported);
        var stdout = await user.RunAsync("export");

        export.AssertOk();
        Assert.True(File.Exists(Path.Combine(user.Home, "export", $"{slug}.openapi.yaml")), export.Error);
        Assert.Equal(File.ReadAllText(openapi), File.ReadAllText(Path.Combine(user.Home, "export", $"{slug}.openapi.yaml")));
        var roundTrip = await user.RunAsync("apply", "-f", exported, "--dry-run", "--exit-code", "--output", "json");
        Assert.Equal(0, roundTrip.ExitCode);
        // The API, its two plans (and its releases, v1 included): every one a no-op.
        var objects = roundTrip.Json()["changes"]!.AsArray();
        Assert.Equal(2, objects.Count(c => (string)c!["kind"]! == "plan"));
        Assert.All(objects, c => Assert.Equal("no-op", (string)c!["action"]!));
        // Standard output carries the documents inline; it round-trips the same way.
        stdout.AssertOk();
        Assert.Contains("openapiDocument: |", stdout.Out, StringComparison.Ordinal);
        var inline = await user.RunAsync("apply", "-f", user.WriteFile("inline.yaml", stdout.Out), "--dry-run", "--exit-code");
        Assert.True(inline.ExitCode == 0, inline.Out + inline.Error);
    }

    [Fact]
    public async Task Apply_SampleVeilYaml_PublishesTheSampleApi()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var sample = Path.Combine(RepositoryRoot.Path, "samples", "veil", "veil.yaml");

        var apply = await user.RunAsync("apply", "-f", sample);
        var again = await user.RunAsync("apply", "-f", sample, "--dry-run", "--exit-code");

        apply.AssertOk();
        Assert.Contains("Applied: 3 created, 0 updated, 0 unchanged.", apply.Out, StringComparison.Ordinal);
        Assert.True(again.ExitCode == 0, again.Out + again.Error);
        var api = (await fleet.GetAsync("v1/apis/weather", user.AccessToken))["api"]!;
        Assert.StartsWith("openapi: 3.0.3", (string)api["openapiDocument"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_CredentialFromEnvironment_StoredMaskedAndNeverExported()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        var file = user.WriteFile("veil.yaml", $"""
            apis:
              - slug: {slug}
                name: Secret Weather
                upstreamUrl: http://localhost:5900
                upstreamCredentials:
                  - name: X-Weather-Token
                    value: {"${WEATHER_TOKEN}"}
            """);

        var missing = await user.RunAsync("apply", "-f", file);
        user.Environment["WEATHER_TOKEN"] = "weather-upstream-token-2026";
        var apply = await user.RunAsync("apply", "-f", file);
        var again = await user.RunAsync("apply", "-f", file, "--dry-run", "--exit-code");
        user.Environment["WEATHER_TOKEN"] = "weather-upstream-token-2027";
        var rotated = await user.RunAsync("apply", "-f", file, "--dry-run");
        var export = await user.RunAsync("export", "--api", slug);

        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("WEATHER_TOKEN is not set", missing.Error, StringComparison.Ordinal);
        apply.AssertOk();
        Assert.Equal(0, again.ExitCode);
        Assert.Matches(@"update\s+api\s+" + slug + @"\s+upstreamCredentials", rotated.Out);
        export.AssertOk();
        Assert.DoesNotContain("weather-upstream-token", export.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("upstreamCredentials:", export.Out, StringComparison.Ordinal);
        Assert.Contains("X-Weather-Token (header) are not exported", export.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_FieldTheServerRefuses_ValidatedFirstPrintedWithItsFieldAndNothingChanged()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var existing = NewSlug();
        var fresh = NewSlug();
        (await user.RunAsync("apply", "-f", user.WriteFile("veil.yaml", Yaml(existing)))).AssertOk();
        // The existing API changes validly, then a new one with an interval the catalog refuses:
        // the server checks both (validateOnly) before apply makes either change.
        var file = user.WriteFile("bad.yaml", Yaml(existing, description: "Changed") + $"""

              - slug: {fresh}
                name: Fresh
                upstreamUrl: http://localhost:5900
                policies:
                  healthCheck:
                    path: /health
                    intervalMs: 5
            """);

        var dry = await user.RunAsync("apply", "-f", file, "--dry-run");
        var apply = await user.RunAsync("apply", "-f", file);

        foreach (var run in new[] { dry, apply })
        {
            Assert.Equal(1, run.ExitCode);
            Assert.Matches(@"(?m)^  \S*interval\S*: \S", run.Error);
            Assert.Contains("nothing was changed", run.Error, StringComparison.Ordinal);
        }
        Assert.Equal(1, await VersionCountAsync(user, existing));
        Assert.Equal(1, (await user.RunAsync("apis", "get", fresh)).ExitCode);
    }

    [Fact]
    public async Task ApplyWait_ReturnsOnceTheEdgeServesTheNewVersion()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();
        (await user.RunAsync("apply", "-f", user.WriteFile("veil.yaml", Yaml(slug)))).AssertOk();

        var apply = await user.RunAsync("apply", "-f", user.WriteFile("changed.yaml", Yaml(slug, description: "Changed")), "--wait", "--wait-timeout", "0:00:30");

        apply.AssertOk();
        Assert.Contains($"{slug} v2 is served by every live edge", apply.Error, StringComparison.Ordinal);
        var answer = await fleet.GetAsync($"v1/apis/{slug}", user.AccessToken);
        Assert.True((bool)answer["deployment"]!["inSync"]!, answer.ToJsonString());
    }

    [Fact]
    public async Task Apply_InvalidFile_Exits2WithoutCallingTheServer()
    {
        using var user = new CliUser(fleet.Server);
        await user.LoginAsync(await fleet.NewProviderAsync());
        var slug = NewSlug();

        var unknownKey = await user.RunAsync("apply", "-f", user.WriteFile("bad.yaml", $"apis:\n  - slug: {slug}\n    name: X\n    upstreamUrl: http://localhost:5900\n    upstream: typo\n"));
        var broken = await user.RunAsync("apply", "-f", user.WriteFile("broken.yaml", "apis: [\n"));

        Assert.Equal(2, unknownKey.ExitCode);
        Assert.Contains("upstream", unknownKey.Error, StringComparison.Ordinal);
        Assert.Equal(2, broken.ExitCode);
        Assert.Contains("broken.yaml:", broken.Error, StringComparison.Ordinal);
        var lookup = await user.RunAsync("apis", "get", slug);
        Assert.Equal(1, lookup.ExitCode);
    }
}
