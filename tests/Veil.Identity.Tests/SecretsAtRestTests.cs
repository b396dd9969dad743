using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;
using Veil.Testing;

namespace Veil.Identity.Tests;

/// <summary>
/// The identity database files alone reveal no secret: signing private keys and the generated
/// API-key hash secret are sealed with the KEK (Veil:Secrets:Kek), which lives outside them.
/// </summary>
public sealed class SecretsAtRestTests
{
    private const string SigningKeyPurpose = "identity/signing-key/";
    private const string HashSecretPurpose = "identity/secret/api_key_hash_secret";

    [Fact]
    public async Task DatabaseFiles_SigningKeyAndApiKeyHashSecret_NotInClear()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            List<string> whileRunning;
            List<(string Name, byte[] Secret)> secrets;
            await using (var host = new IdentityHost(dataDirectory))
            {
                using var channel = host.CreateGrpcChannel();
                var client = host.CreateClient(channel);
                var account = await client.SignUpAsync(Role.Consumer);
                var key = await client.CreateKeyAsync(account.Session.AccessToken);
                Assert.True((await client.ValidateAsync(key.Key)).Valid);
                var kek = Convert.FromBase64String(await File.ReadAllTextAsync(Path.Combine(dataDirectory, "development.kek"), Api.Ct));
                secrets = [.. await ClearSecretsAsync(host), ("KEK", kek)];
                whileRunning = DatabaseFiles.FindSecrets(dataDirectory, "identity", [.. secrets]);
            }
            SqliteConnection.ClearAllPools();
            var afterStop = DatabaseFiles.FindSecrets(dataDirectory, "identity", [.. secrets]);

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
    public async Task ExistingDatabase_ClearSecrets_SealedAtStartAndKeysTokensApiKeysKeepWorking()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            SignUpResponse account;
            CreateApiKeyResponse key;
            List<(string Name, byte[] Secret)> secrets;
            await using (var first = new IdentityHost(dataDirectory))
            {
                using var channel = first.CreateGrpcChannel();
                var client = first.CreateClient(channel);
                account = await client.SignUpAsync(Role.Consumer);
                key = await client.CreateKeyAsync(account.Session.AccessToken);
                secrets = await ClearSecretsAsync(first);
            }
            // What a database written before secrets were sealed looks like: schema version 3,
            // the private key (PKCS#8) and the hash secret in clear.
            // (Pooled connections would keep the schema they cached.)
            SqliteConnection.ClearAllPools();
            await DowngradeToClearAsync(dataDirectory, secrets);
            Assert.NotEmpty(DatabaseFiles.FindSecrets(dataDirectory, "identity", [.. secrets]));

            await using var second = new IdentityHost(dataDirectory);
            using var secondChannel = second.CreateGrpcChannel();
            var secondClient = second.CreateClient(secondChannel);
            var me = await secondClient.GetMeAsync(new GetMeRequest(), Api.Call(account.Session.AccessToken));
            var validated = await secondClient.ValidateAsync(key.Key);
            var signedIn = await secondClient.SignInAsync(new SignInRequest { Email = account.Account.Email, Password = Api.Password }, Api.Call());
            var stored = await second.QueryAsync("SELECT private_key FROM signing_keys UNION ALL SELECT value FROM secrets");

            Assert.Equal(account.Account.Id, me.Account.Id);
            Assert.True(validated.Valid);
            Assert.Equal(new JsonWebToken(account.Session.AccessToken).Kid, new JsonWebToken(signedIn.Session.AccessToken).Kid);
            Assert.All(stored, row => Assert.True(SecretProtection.IsProtected((byte[])row[0]!)));
            Assert.Empty(DatabaseFiles.FindSecrets(dataDirectory, "identity", [.. secrets]));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Kek_RotatedWithPreviousKeks_ValuesResealedAndTheOldKekNoLongerNeeded()
    {
        var (a, b, c) = (NewKek(), NewKek(), NewKek());
        var dataDirectory = Directory.CreateTempSubdirectory("veil-test-").FullName;
        try
        {
            SignUpResponse account;
            await using (var first = new IdentityHost(dataDirectory))
            {
                first.With("Veil:Secrets:Kek", a);
                using var channel = first.CreateGrpcChannel();
                account = await first.CreateClient(channel).SignUpAsync(Role.Consumer);
            }
            await using (var rotating = new IdentityHost(dataDirectory))
            {
                rotating.With("Veil:Secrets:Kek", b).With("Veil:Secrets:PreviousKeks", a);
                using var channel = rotating.CreateGrpcChannel();
                await rotating.CreateClient(channel).GetMeAsync(new GetMeRequest(), Api.Call(account.Session.AccessToken));
                var protection = rotating.Services.GetRequiredService<SecretProtection>();
                var stored = await rotating.QueryAsync("SELECT private_key FROM signing_keys UNION ALL SELECT value FROM secrets");
                Assert.All(stored, row => Assert.True(protection.IsCurrent((byte[])row[0]!)));
            }
            await using (var rotated = new IdentityHost(dataDirectory))
            {
                rotated.With("Veil:Secrets:Kek", b);
                using var channel = rotated.CreateGrpcChannel();
                var me = await rotated.CreateClient(channel).GetMeAsync(new GetMeRequest(), Api.Call(account.Session.AccessToken));
                Assert.Equal(account.Account.Id, me.Account.Id);
            }

            await using var wrongKek = new IdentityHost(dataDirectory);
            wrongKek.With("Veil:Secrets:Kek", c);
            var ex = Assert.ThrowsAny<Exception>(() => wrongKek.Start());
            Assert.Contains("Veil:Secrets:PreviousKeks", ex.ToString());
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Kek_MissingOutsideDevelopment_StartFailsNamingTheSetting()
    {
        await using var host = new IdentityHost { EnvironmentName = "Production" };

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("Veil:Secrets:Kek is not set", ex.ToString());
        Assert.False(File.Exists(Path.Combine(host.DataDirectory, "development.kek")));
    }

    [Fact]
    public async Task Kek_NotThirtyTwoBytes_StartFailsNamingTheSetting()
    {
        await using var host = new IdentityHost();
        host.With("Veil:Secrets:Kek", Convert.ToBase64String(new byte[16]));

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("Veil:Secrets:Kek must be base64 of exactly 32 bytes", ex.ToString());
    }

    /// <summary>The clear values behind the sealed rows: each signing key's PKCS#8 and its private scalar d, and the hash secret.</summary>
    private static async Task<List<(string Name, byte[] Secret)>> ClearSecretsAsync(IdentityHost host)
    {
        var protection = host.Services.GetRequiredService<SecretProtection>();
        var secrets = new List<(string, byte[])>();
        foreach (var row in await host.QueryAsync("SELECT kid, private_key FROM signing_keys"))
        {
            var kid = (string)row[0]!;
            var pkcs8 = protection.Unprotect((byte[])row[1]!, SigningKeyPurpose + kid);
            using var ecdsa = ECDsa.Create();
            ecdsa.ImportPkcs8PrivateKey(pkcs8, out _);
            secrets.Add(($"signing key {kid} (PKCS#8)", pkcs8));
            secrets.Add(($"signing key {kid} (d)", ecdsa.ExportParameters(includePrivateParameters: true).D!));
        }
        var hashSecret = Assert.Single(await host.QueryAsync("SELECT value FROM secrets WHERE name = 'api_key_hash_secret'"));
        secrets.Add(("API-key hash secret", protection.Unprotect((byte[])hashSecret[0]!, HashSecretPurpose)));
        Assert.Equal(3, secrets.Count);
        return secrets;
    }

    /// <summary>Writes the clear values back as an identity of schema version 3 stored them.</summary>
    private static async Task DowngradeToClearAsync(string dataDirectory, List<(string Name, byte[] Secret)> secrets)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "identity.db")};Pooling=False");
        await connection.OpenAsync(Api.Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE signing_keys SET private_key = $pkcs8;
            UPDATE secrets SET value = $secret;
            DROP INDEX api_keys_expiry;
            DROP INDEX signing_keys_activates_at;
            ALTER TABLE signing_keys DROP COLUMN activates_at;
            PRAGMA user_version = 3;
            """;
        command.Parameters.AddWithValue("$pkcs8", secrets[0].Secret);
        command.Parameters.AddWithValue("$secret", secrets[2].Secret);
        await command.ExecuteNonQueryAsync(Api.Ct);
    }

    private static string NewKek() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
