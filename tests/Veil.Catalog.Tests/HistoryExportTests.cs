using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Veil.Catalog.Grpc;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>POST /v1/apis/{api_id}:export against a real S3-compatible server (docs/catalog.md "History export").</summary>
public sealed class HistoryExportTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>, IAsyncLifetime
{
    private const string Bucket = "veil-history";
    private const string Credential = "a-long-secret-credential-XYZ9";

    private S3Server _s3 = null!;
    private ServiceHost<CatalogGrpcService> _catalog = null!;
    private GrpcChannel _channel = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _s3 = await S3Server.StartAsync([Bucket], Ct);
        _catalog = fixture.NewCatalogHost()
            .With("Catalog:Export:Bucket", Bucket)
            .With("Catalog:Export:ServiceUrl", _s3.ServiceUrl)
            .With("Catalog:Export:Region", S3Server.Region)
            .With("Catalog:Export:AccessKey", S3Server.AccessKey)
            .With("Catalog:Export:SecretKey", S3Server.SecretKey)
            .With("Catalog:Export:ForcePathStyle", "true")
            .Start();
        _channel = _catalog.CreateGrpcChannel();
    }

    [Fact]
    public async Task ExportApiHistory_ThreeVersions_WritesLayoutWithSecretsMaskedThenNothingTheSecondTime()
    {
        var client = new CatalogService.CatalogServiceClient(_channel);
        var owner = await fixture.SignUpProviderAsync();
        var api = (await client.CreateApiAsync(new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug("hist"), Name = "History", UpstreamUrl = "https://history.example.com/v1",
            UpstreamCredentials = { new UpstreamCredential { Name = "X-Token", Value = Credential } },
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        await client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "History 2" }, owner.Headers, CatalogFixture.Deadline, Ct);
        var rotated = await client.RotateApiSigningSecretAsync(new RotateApiSigningSecretRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct);

        using var rest = _catalog.CreateRestClient();
        rest.DefaultRequestHeaders.Authorization = new("Bearer", owner.Token);
        using var first = await rest.PostAsJsonAsync($"v1/apis/{api.Id}:export", new { }, Ct);
        var firstBody = await first.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.True(first.IsSuccessStatusCode, firstBody.ToString());
        Assert.Equal(Bucket, firstBody.GetProperty("bucket").GetString());
        Assert.Equal($"apis/{api.Id}/", firstBody.GetProperty("prefix").GetString());
        Assert.Equal(3, firstBody.GetProperty("versionsWritten").GetInt32());
        var prefix = $"apis/{api.Id}/";
        var objects = await _s3.ListAsync(Bucket, prefix, Ct);
        Assert.Equal([prefix + "current", prefix + "v1/config.json", prefix + "v2/config.json", prefix + "v3/config.json"], objects.Select(o => o.Key));
        Assert.Equal("3", await _s3.GetTextAsync(Bucket, prefix + "current", Ct));
        for (var n = 1; n <= 3; n++)
        {
            var text = (await _s3.GetTextAsync(Bucket, $"{prefix}v{n}/config.json", Ct))!;
            Assert.DoesNotContain(Credential, text, StringComparison.Ordinal);
            Assert.DoesNotContain(rotated.SigningSecret, text, StringComparison.Ordinal);
            var version = JsonDocument.Parse(text).RootElement;
            Assert.Equal(n, long.Parse(version.GetProperty("version").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
            var credential = version.GetProperty("api").GetProperty("upstreamCredentials")[0];
            Assert.Equal("a-lo…XYZ9", credential.GetProperty("valueHint").GetString());
            Assert.False(credential.TryGetProperty("value", out _));
        }
        Assert.Contains("History 2", await _s3.GetTextAsync(Bucket, prefix + "v2/config.json", Ct), StringComparison.Ordinal);

        // The same history again: nothing is written, every object keeps its time.
        var second = await client.ExportApiHistoryAsync(new ExportApiHistoryRequest { ApiId = api.Slug }, owner.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal(0, second.VersionsWritten);
        Assert.Equal(3, second.CurrentVersion);
        Assert.Equal(objects, await _s3.ListAsync(Bucket, prefix, Ct));

        // One more version: only it and current are written.
        await client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "History 4" }, owner.Headers, CatalogFixture.Deadline, Ct);
        var third = await client.ExportApiHistoryAsync(new ExportApiHistoryRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(1, third.VersionsWritten);
        Assert.Equal("4", await _s3.GetTextAsync(Bucket, prefix + "current", Ct));
        var after = await _s3.ListAsync(Bucket, prefix, Ct);
        Assert.Equal(objects.Where(o => o.Key.EndsWith("/config.json", StringComparison.Ordinal)),
            after.Where(o => o.Key.EndsWith("/config.json", StringComparison.Ordinal) && !o.Key.EndsWith("v4/config.json", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task AutomaticExport_BucketAwayThenRestart_CatchesUpThenFollowsEachVersion()
    {
        var owner = await fixture.SignUpProviderAsync();
        var data = Directory.CreateTempSubdirectory("veil-catalog-export-").FullName;
        try
        {
            Api api;
            // The bucket is away (nothing listens there): the version waits in the catalog.
            await using (var away = Automatic(fixture.NewCatalogHost(data), $"http://127.0.0.1:{FreePort.Next()}").Start())
            {
                using var channel = away.CreateGrpcChannel();
                api = (await new CatalogService.CatalogServiceClient(channel).CreateApiAsync(new CreateApiRequest
                {
                    Slug = CatalogFixture.UniqueSlug("auto"), Name = "Automatic", UpstreamUrl = "https://auto.example.com",
                }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
            }
            var prefix = $"apis/{api.Id}/";
            Assert.Empty(await _s3.ListAsync(Bucket, prefix, Ct));

            // Restarted with the bucket back: the version written before the restart arrives by itself.
            await using var back = Automatic(fixture.NewCatalogHost(data), _s3.ServiceUrl).Start();
            await Eventually.HoldsAsync(() => CurrentIsAsync(prefix, "1"),
                TimeSpan.FromSeconds(15), "the restarted catalog exports version 1");

            // And every new version follows without a call.
            using var backChannel = back.CreateGrpcChannel();
            await new CatalogService.CatalogServiceClient(backChannel).UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "Automatic 2" },
                owner.Headers, CatalogFixture.Deadline, Ct);
            await Eventually.HoldsAsync(() => CurrentIsAsync(prefix, "2"),
                TimeSpan.FromSeconds(15), "version 2 is exported after the update");
            Assert.Equal([prefix + "current", prefix + "v1/config.json", prefix + "v2/config.json"], (await _s3.ListAsync(Bucket, prefix, Ct)).Select(o => o.Key));
            Assert.Contains("Automatic 2", await _s3.GetTextAsync(Bucket, prefix + "v2/config.json", Ct), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>Whether apis/&lt;id&gt;/current reads <paramref name="version"/>; false while it is being written (s3rver may end that read early).</summary>
    private async Task<bool> CurrentIsAsync(string prefix, string version)
    {
        try
        {
            return await _s3.GetTextAsync(Bucket, prefix + "current", Ct) == version;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static ServiceHost<CatalogGrpcService> Automatic(ServiceHost<CatalogGrpcService> host, string serviceUrl) => host
        .With("Catalog:Export:Bucket", Bucket)
        .With("Catalog:Export:ServiceUrl", serviceUrl)
        .With("Catalog:Export:AccessKey", S3Server.AccessKey)
        .With("Catalog:Export:SecretKey", S3Server.SecretKey)
        .With("Catalog:Export:ForcePathStyle", "true")
        .With("Catalog:Export:Automatic", "true");

    [Fact]
    public async Task ExportApiHistory_SomeoneElsesApi_NotFoundAndNothingWritten()
    {
        var client = new CatalogService.CatalogServiceClient(_channel);
        var owner = await fixture.SignUpProviderAsync();
        var other = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var api = (await client.CreateApiAsync(new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Mine", UpstreamUrl = "https://mine.example.com" },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        await Expect.StatusAsync(StatusCode.NotFound, () => client.ExportApiHistoryAsync(
            new ExportApiHistoryRequest { ApiId = api.Id }, other.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => client.ExportApiHistoryAsync(
            new ExportApiHistoryRequest { ApiId = api.Id }, consumer.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Empty(await _s3.ListAsync(Bucket, $"apis/{api.Id}/", Ct));
    }

    [Fact]
    public async Task ExportApiHistory_NotConfigured_FailedPreconditionNamingTheKeys()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);

        var ex = await Expect.StatusAsync(StatusCode.FailedPrecondition, () => fixture.Client.ExportApiHistoryAsync(
            new ExportApiHistoryRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Contains("Catalog:Export:Bucket", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("Catalog:Export:ServiceUrl", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_ExportHalfConfigured_FailsNamingTheKey()
    {
        using var host = fixture.NewCatalogHost()
            .With("Catalog:Export:Bucket", Bucket)
            .With("Catalog:Export:AccessKey", "only-the-id");

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        Assert.Contains("Catalog:Export:SecretKey", ex.ToString(), StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        if (_catalog is not null)
        {
            await _catalog.DisposeAsync();
        }
        if (_s3 is not null)
        {
            await _s3.DisposeAsync();
        }
    }
}
