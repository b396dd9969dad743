using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Veil.Samples.Upstream;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The signature verification snippets of docs/policies.md, run against a real signed call: the C#
/// one is <see cref="VeilSignature"/> (and must stay identical to the doc's), the Node.js and Python
/// ones are taken from the doc and run with <c>node</c> and <c>python3</c> when the machine has them.
/// Each must accept the real call and refuse a tampered field, another secret, a stale timestamp
/// and a missing header.
/// </summary>
public sealed partial class SignatureSnippetTests(EdgeFixture fleet) : IClassFixture<EdgeFixture>
{
    private static readonly string Doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "policies.md"));

    [Fact]
    public void CSharpSnippet_IsTheTestedVerifier()
    {
        var file = File.ReadAllText(Path.Combine(RepositoryRoot(), "samples", "upstream", "VeilSignature.cs"))
            .Replace("\r\n", "\n", StringComparison.Ordinal)
            .Replace("namespace Veil.Samples.Upstream;\n\n", "", StringComparison.Ordinal)
            .TrimEnd('\n');
        Assert.Equal(file, Block("csharp"));
    }

    [Fact]
    public void Readme_CSharpSnippet_IsTheDocsSnippet()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        Assert.Equal(Block("csharp"), Block("csharp", readme, "class VeilSignature"));
    }

    [Fact]
    public async Task CSharpSnippet_VerifiesRealCall_RefusesTamperedStaleAndUnsigned()
    {
        var cases = await CasesAsync();
        foreach (var (name, args, now, valid) in cases)
        {
            Assert.True(valid == VeilSignature.Verify(args[0]!, args[1], args[2]!, args[3]!, args[4]!, args[5]!, args[6]!, args[7]!, DateTimeOffset.FromUnixTimeSeconds(now)), name);
        }
    }

    [Fact]
    public Task NodeSnippet_VerifiesRealCall_RefusesTamperedStaleAndUnsigned() => RunSnippetAsync("node", Block("js") + """

        const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
        for (const c of cases) console.log(verifyVeilSignature(...c.args, c.now) ? "valid" : "invalid");
        """, ".js");

    [Fact]
    public Task PythonSnippet_VerifiesRealCall_RefusesTamperedStaleAndUnsigned() => RunSnippetAsync("python3", Block("python") + """


        import json, sys
        for c in json.load(sys.stdin):
            print("valid" if verify_veil_signature(*c["args"], now=c["now"]) else "invalid")
        """, ".py");

    private async Task RunSnippetAsync(string tool, string script, string extension)
    {
        var executable = FindOnPath(tool);
        if (executable is null)
        {
            Assert.Skip($"'{tool}' is not on this machine's PATH, so the docs/policies.md snippet for it cannot run here.");
        }
        var cases = await CasesAsync();
        var path = Path.Combine(Path.GetTempPath(), $"veil-signature-{Guid.NewGuid():N}{extension}");
        await File.WriteAllTextAsync(path, script, TestContext.Current.CancellationToken);
        try
        {
            using var process = Process.Start(new ProcessStartInfo(executable, [path])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            await process.StandardInput.WriteAsync(JsonSerializer.Serialize(cases.Select(c => new { args = c.Args, now = c.Now })));
            process.StandardInput.Close();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var errors = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"{tool} exited with {process.ExitCode}: {await errors}");
            var lines = (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Equal(cases.Select(c => $"{c.Name}: {(c.Valid ? "valid" : "invalid")}"), cases.Select((c, i) => $"{c.Name}: {lines.ElementAtOrDefault(i)}"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A real signed call through the edge, and the cases to check it with.</summary>
    private async Task<List<(string Name, string?[] Args, long Now, bool Valid)>> CasesAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        var rotated = await EdgeFixture.PostAsync(rest, $"v1/apis/{api.ApiId}:rotateSigningSecret", api.Provider.Token, new { }, ct);
        var secret = rotated["signingSecret"]!.GetValue<string>();
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        JsonNode? echo = null;
        await Eventually.HoldsAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{api.Slug}/reports/2026?lang=pt&q=caf%C3%A9");
            request.Headers.Add("X-Api-Key", consumer.Key);
            using var response = await rest.SendAsync(request, ct);
            echo = response.IsSuccessStatusCode ? JsonNode.Parse(await response.Content.ReadAsStringAsync(ct)) : null;
            return echo?["headers"]?["x-veil-signature"] is not null;
        }, TimeSpan.FromSeconds(10), "the edge signs the API's calls");
        var headers = echo!["headers"]!;
        string?[] args =
        [
            secret, headers["x-veil-signature"]!.GetValue<string>(), echo["method"]!.GetValue<string>(),
            echo["path"]!.GetValue<string>() + echo["query"]!.GetValue<string>(),
            headers["x-veil-consumer"]!.GetValue<string>(), headers["x-veil-subscription"]!.GetValue<string>(),
            headers["x-veil-plan"]!.GetValue<string>(), headers["x-request-id"]!.GetValue<string>(),
        ];
        var t = long.Parse(TimestampRegex().Match(args[1]!).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        string?[] With(int index, string? value)
        {
            var copy = (string?[])args.Clone();
            copy[index] = value;
            return copy;
        }
        return
        [
            ("real call", args, t + 2, true),
            ("another secret", With(0, "vsig_" + new string('A', 43)), t, false),
            ("unsigned", With(1, null), t, false),
            ("tampered method", With(2, "POST"), t, false),
            ("tampered target", With(3, "/reports/2027?lang=pt&q=caf%C3%A9"), t, false),
            ("tampered consumer", With(4, "acc_someone_else"), t, false),
            ("tampered subscription", With(5, "sub_other"), t, false),
            ("tampered plan", With(6, "plan_other"), t, false),
            ("tampered request id", With(7, "another-request"), t, false),
            ("stale (6 minutes later)", args, t + 360, false),
        ];
    }

    /// <summary>
    /// The first fenced block of <paramref name="language"/> in docs/policies.md (or <paramref name="text"/>)
    /// that contains <paramref name="containing"/>.
    /// </summary>
    private static string Block(string language, string? text = null, string containing = "")
    {
        var blocks = Regex.Matches((text ?? Doc).Replace("\r\n", "\n", StringComparison.Ordinal), $"```{language}\n(.*?)\n```", RegexOptions.Singleline);
        var match = blocks.FirstOrDefault(m => m.Groups[1].Value.Contains(containing, StringComparison.Ordinal));
        return match is not null
            ? match.Groups[1].Value
            : throw new InvalidOperationException($"The document has no ```{language} block containing '{containing}'.");
    }

    private static string? FindOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Veil.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Veil.slnx not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex("^t=([0-9]+),")]
    private static partial Regex TimestampRegex();
}
