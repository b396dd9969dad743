using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using StandardWebhooks;
using Veil.Identity.V1;
using Veil.Testing;
using Veil.Usage.V1;
using Receiver = Veil.Usage.Tests.WebhookTests.Receiver;

namespace Veil.Usage.Tests;

/// <summary>
/// NotifyConsumers: another service's notice reaches the consumer's webhook once per (type, id),
/// signed, with the standard fields first and the caller's data after them.
/// </summary>
public sealed class ConsumerNoticeTests(IdentityFixture identity)
{
    [Fact]
    public async Task NotifyConsumers_SameIdTwice_OneSignedDeliveryWithTheData_NoWebhookSkipped()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var withoutWebhook = await identity.SignUpAsync(Role.Consumer);
        await using var receiver = await Receiver.StartAsync(failFirst: 0);
        await using var usage = new UsageHost(identity, time: TimeProvider.System);
        using var rest = usage.CreateRestClient();
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var set = await rest.SendAsync(HttpMethod.Put, "v1/usage/webhook", consumer.Token, new { url = receiver.Url, secret });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var notice = new ConsumerNotice
        {
            Id = "api.deprecated:api_1:sub_1:1798761600000",
            ConsumerId = consumer.Id,
            SubscriptionId = "sub_7Hq2",
            Type = "api.deprecated",
            DataJson = """{"apiId":"api_7Hq2","sunsetTime":"2027-01-01T00:00:00Z"}""",
        };
        var request = new NotifyConsumersRequest { Notices = { notice, new ConsumerNotice(notice) { ConsumerId = withoutWebhook.Id } } };

        var first = await usage.Client.NotifyConsumersAsync(request, cancellationToken: Api.Ct);
        var again = await usage.Client.NotifyConsumersAsync(request, cancellationToken: Api.Ct);

        Assert.Equal(1, first.Queued);
        Assert.Equal(0, again.Queued);
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Delivered.Count == 1),
            TimeSpan.FromSeconds(30), "the notice is delivered");
        var delivered = Assert.Single(receiver.All);
        var text = Encoding.UTF8.GetString(delivered.Body);
        new StandardWebhook(secret).Verify(text, delivered.Headers);
        var body = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(["id", "type", "createdAt", "consumerId", "subscriptionId", "apiId", "sunsetTime"], body.Select(p => p.Key));
        Assert.Equal(delivered.Headers["webhook-id"].ToString(), (string?)body["id"]);
        Assert.Equal("api.deprecated", (string?)body["type"]);
        Assert.Equal(consumer.Id, (string?)body["consumerId"]);
        Assert.Equal("sub_7Hq2", (string?)body["subscriptionId"]);
        Assert.Equal("2027-01-01T00:00:00Z", (string?)body["sunsetTime"]);
    }

    [Fact]
    public async Task NotifyConsumers_BadNotices_FieldErrorForEach_NothingQueued()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var usage = new UsageHost(identity);
        var request = new NotifyConsumersRequest
        {
            Notices =
            {
                new ConsumerNotice { Id = "", ConsumerId = consumer.Id, Type = "api.deprecated" },
                new ConsumerNotice { Id = "n1", ConsumerId = "bob", Type = "api.deprecated" },
                new ConsumerNotice { Id = "n2", ConsumerId = consumer.Id, Type = "Deprecated" },
                new ConsumerNotice { Id = "n3", ConsumerId = consumer.Id, Type = "usage.quota.threshold_reached" },
                new ConsumerNotice { Id = "n4", ConsumerId = consumer.Id, Type = "api.deprecated", DataJson = "[1]" },
                new ConsumerNotice { Id = "n5", ConsumerId = consumer.Id, Type = "api.deprecated", DataJson = """{"type":"x"}""" },
            },
        };

        var fields = await Expect.FieldErrorsAsync(() => usage.Client.NotifyConsumersAsync(request, cancellationToken: Api.Ct).ResponseAsync);

        Assert.Equal(["notices[0].id", "notices[1].consumer_id", "notices[2].type", "notices[3].type", "notices[4].data_json", "notices[5].data_json"], fields);
        Assert.Equal(0L, (await usage.QueryAsync("SELECT COUNT(*) FROM notifications"))[0][0]);
        await Expect.FieldErrorsAsync(() => usage.Client.NotifyConsumersAsync(new NotifyConsumersRequest(), cancellationToken: Api.Ct).ResponseAsync);
    }
}
