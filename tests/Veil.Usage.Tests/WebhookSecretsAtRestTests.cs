using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using StandardWebhooks;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;
using Veil.Testing;

namespace Veil.Usage.Tests;

/// <summary>
/// The usage database files alone reveal no webhook secret: secrets are sealed with the KEK
/// (Veil:Secrets:Kek), and those an older version protected with its data-protection key ring
/// are sealed at start.
/// </summary>
public sealed class WebhookSecretsAtRestTests(IdentityFixture identity)
{
    [Fact]
    public async Task DatabaseFiles_WebhookSecrets_NotInClear()
    {
        var standard = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var plain = "plain-secret-" + Guid.NewGuid().ToString("N");
        var first = await identity.SignUpAsync(Role.Consumer);
        var second = await identity.SignUpAsync(Role.Consumer);
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            (string, byte[])[] secrets;
            List<string> whileRunning;
            await using (var usage = new UsageHost(identity, dataDirectory))
            {
                using var rest = usage.CreateRestClient();
                var setFirst = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", first.Token, new { url = "http://127.0.0.1:9/hook", secret = standard });
                var setSecond = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", second.Token, new { url = "http://127.0.0.1:9/hook", secret = plain });
                Assert.Equal(HttpStatusCode.OK, setFirst.StatusCode);
                Assert.Equal(HttpStatusCode.OK, setSecond.StatusCode);
                var stored = await usage.QueryAsync("SELECT protected_secret FROM webhooks");
                Assert.Equal(2, stored.Count);
                Assert.All(stored, row => Assert.StartsWith("vsk1.", (string)row[0]!));
                // A sealed secret opens only for the consumer it was sealed for (associated data).
                var protection = usage.Services.GetRequiredService<SecretProtection>();
                var firstSealed = (string)(await usage.QueryAsync($"SELECT protected_secret FROM webhooks WHERE consumer_id = '{first.Id}'"))[0][0]!;
                Assert.Equal(standard, protection.UnprotectString(firstSealed, "usage/webhook-secret/" + first.Id));
                Assert.ThrowsAny<CryptographicException>(() => protection.UnprotectString(firstSealed, "usage/webhook-secret/" + second.Id));
                var kek = Convert.FromBase64String(await File.ReadAllTextAsync(Path.Combine(dataDirectory, "development.kek"), Api.Ct));
                secrets =
                [
                    ("whsec_ secret", Encoding.UTF8.GetBytes(standard)),
                    ("whsec_ key bytes", Convert.FromBase64String(standard["whsec_".Length..])),
                    ("plain secret", Encoding.UTF8.GetBytes(plain)),
                    ("KEK", kek),
                ];
                whileRunning = DatabaseFiles.FindSecrets(dataDirectory, "usage", secrets);
            }
            SqliteConnection.ClearAllPools();
            var afterStop = DatabaseFiles.FindSecrets(dataDirectory, "usage", secrets);

            Assert.Empty(whileRunning);
            Assert.Empty(afterStop);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task ExistingDatabase_DataProtectionSecret_SealedAtStartAndDeliveriesVerify()
    {
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var receiver = await WebhookTests.Receiver.StartAsync(failFirst: 0);
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            await using (var first = new UsageHost(identity, dataDirectory))
            {
                using var rest = first.CreateRestClient();
                var set = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = receiver.Url, secret });
                Assert.Equal(HttpStatusCode.OK, set.StatusCode);
            }
            // What an older version stored: the secret protected by ASP.NET Core Data Protection
            // with its key ring in {data}/usage-keys (same application name and purpose).
            SqliteConnection.ClearAllPools();
            var legacy = DataProtectionProvider.Create(new DirectoryInfo(Path.Combine(dataDirectory, "usage-keys")), b => b.SetApplicationName("veil-usage"))
                .CreateProtector("Veil.Usage.WebhookSecret.v1").Protect(secret);
            await using (var connection = new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "usage.db")};Pooling=False"))
            {
                await connection.OpenAsync(Api.Ct);
                await using var command = connection.CreateCommand();
                command.CommandText = "UPDATE webhooks SET protected_secret = $secret";
                command.Parameters.AddWithValue("$secret", legacy);
                Assert.Equal(1, await command.ExecuteNonQueryAsync(Api.Ct));
            }

            await using var second = new UsageHost(identity, dataDirectory);
            var now = DateTimeOffset.UtcNow;
            var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now), quota: 5, overage: true);
            await second.Client.IngestAsync(sub.Calls(4, now.AddMinutes(-1)));
            await Eventually.HoldsAsync(() => Task.FromResult(receiver.Delivered.Count == 1),
                TimeSpan.FromSeconds(30), "the 80% notification is delivered with the upgraded secret");
            var stored = await second.QueryAsync("SELECT protected_secret FROM webhooks");

            var delivery = receiver.Delivered[0];
            new StandardWebhook(secret).Verify(Encoding.UTF8.GetString(delivery.Body), delivery.Headers);
            Assert.StartsWith("vsk1.", (string)Assert.Single(stored)[0]!);
            Assert.Empty(DatabaseFiles.FindSecrets(dataDirectory, "usage",
                ("secret", Encoding.UTF8.GetBytes(secret)), ("old protected value", Encoding.ASCII.GetBytes(legacy))));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dataDirectory, recursive: true);
        }
    }
}
