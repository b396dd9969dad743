using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Veil.Usage.Grpc;

namespace Veil.Usage.Tests;

/// <summary>
/// A service is not ready before its migrations ran: they run while the host starts, before Kestrel
/// listens (defaults/Data/SqliteExtensions.cs, docs/operations.md "Readiness"). Read from the file
/// itself, before any request could resolve the database lazily.
/// </summary>
public sealed partial class ReadinessTests(IdentityFixture identity)
{
    [Fact]
    public async Task Start_MigrationsRanBeforeTheServiceListens_ThenReady()
    {
        var ct = TestContext.Current.CancellationToken;
        var latest = typeof(UsageGrpcService).Assembly.GetManifestResourceNames()
            .Select(n => ScriptNumber().Match(n)).Where(m => m.Success).Max(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        await using var usage = new UsageHost(identity);

        usage.Start();

        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(usage.DataDirectory, "usage.db")};Mode=ReadOnly;Pooling=False"))
        {
            await connection.OpenAsync(ct);
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version;";
            Assert.Equal((long)latest, (long)(await command.ExecuteScalarAsync(ct))!);
        }
        using var rest = usage.CreateRestClient();
        using var health = await rest.GetAsync("health", ct);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [GeneratedRegex(@"\.(\d{4})_[A-Za-z0-9_]+\.sql$")]
    private static partial Regex ScriptNumber();
}
