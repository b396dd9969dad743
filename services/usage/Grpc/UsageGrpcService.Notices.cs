using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Grpc.Core;
using Veil.ServiceDefaults.Data;
using Veil.ServiceDefaults.Grpc;
using Veil.Usage.Data;
using Veil.Usage.V1;

namespace Veil.Usage.Grpc;

/// <summary>
/// NotifyConsumers: other services' notices to consumers (an API deprecated, a plan changed) go
/// through the same outbox and dispatcher as quota notices — at least once, signed, logged in the
/// consumer's delivery log.
/// </summary>
public sealed partial class UsageGrpcService
{
    private const int MaxNotices = 500;
    private const int MaxNoticeIdLength = 200;
    private const int MaxNoticeDataBytes = 16 * 1024;
    private static readonly string[] ReservedNoticeFields = ["id", "type", "createdAt", "consumerId", "subscriptionId"];

    public override async Task<NotifyConsumersResponse> NotifyConsumers(NotifyConsumersRequest request, ServerCallContext context)
    {
        var errors = new FieldViolations();
        if (request.Notices.Count == 0)
        {
            errors.Add("notices", "At least one notice is required.");
        }
        else if (request.Notices.Count > MaxNotices)
        {
            errors.Add("notices", $"At most {MaxNotices} notices per call; split them.");
        }
        var now = time.GetUtcNow();
        var notifications = new List<NewNotification>(request.Notices.Count);
        for (var i = 0; i < request.Notices.Count && request.Notices.Count <= MaxNotices; i++)
        {
            if (Notice(errors, $"notices[{i}]", request.Notices[i], now) is { } notification)
            {
                notifications.Add(notification);
            }
        }
        errors.ThrowIfAny();

        var queued = await store.QueueNotificationsAsync(notifications, now.ToUnixTimeMilliseconds(), context.CancellationToken);
        if (queued.Count > 0)
        {
            webhooks.Wake();
        }
        UsageLog.ConsumerNoticesQueued(logger, queued.Count, notifications.Count,
            string.Join(", ", notifications.Select(n => n.Type).Distinct(StringComparer.Ordinal)));
        return new NotifyConsumersResponse { Queued = queued.Count };
    }

    /// <summary>The outbox row of one notice: dedup key = the caller's id, body = the standard fields then the data.</summary>
    private static NewNotification? Notice(FieldViolations errors, string field, ConsumerNotice notice, DateTimeOffset now)
    {
        var valid = true;
        void Invalid(string name, string description)
        {
            errors.Add($"{field}.{name}", description);
            valid = false;
        }
        if (notice.Id.Length is 0 or > MaxNoticeIdLength)
        {
            Invalid("id", $"1 to {MaxNoticeIdLength} characters, deterministic for what the notice is about.");
        }
        if (!IsId(notice.ConsumerId, "acc_"))
        {
            Invalid("consumer_id", "A consumer account id (acc_…) is required.");
        }
        if (notice.SubscriptionId.Length > 0 && !IsId(notice.SubscriptionId, "sub_"))
        {
            Invalid("subscription_id", "A subscription id (sub_…) or empty.");
        }
        if (!NoticeType().IsMatch(notice.Type))
        {
            Invalid("type", "Lower-case dotted words, e.g. \"api.deprecated\".");
        }
        else if (notice.Type == "usage.quota.threshold_reached")
        {
            Invalid("type", "Quota notices are queued by ingest only.");
        }
        JsonObject? data = null;
        if (notice.DataJson.Length > MaxNoticeDataBytes)
        {
            Invalid("data_json", $"At most {MaxNoticeDataBytes / 1024} KiB.");
        }
        else if (notice.DataJson.Length > 0)
        {
            try
            {
                data = JsonNode.Parse(notice.DataJson) as JsonObject;
            }
            catch (JsonException)
            {
            }
            if (data is null)
            {
                Invalid("data_json", "A JSON object is required.");
            }
            else if (ReservedNoticeFields.FirstOrDefault(data.ContainsKey) is { } reserved)
            {
                Invalid("data_json", $"The field \"{reserved}\" is set by the usage service; rename it.");
            }
        }
        if (!valid)
        {
            return null;
        }

        var id = ResourceIds.New("ntf");
        var body = new JsonObject
        {
            ["id"] = id,
            ["type"] = notice.Type,
            ["createdAt"] = now,
            ["consumerId"] = notice.ConsumerId,
        };
        if (notice.SubscriptionId.Length > 0)
        {
            body["subscriptionId"] = notice.SubscriptionId;
        }
        foreach (var (name, value) in data ?? [])
        {
            body[name] = value?.DeepClone();
        }
        return new NewNotification(id, notice.Type, notice.ConsumerId, notice.Id, body.ToJsonString());
    }

    private static bool IsId(string value, string prefix) =>
        value.Length is > 4 and <= 64 && value.StartsWith(prefix, StringComparison.Ordinal) && value.AsSpan(prefix.Length).IndexOfAnyExcept(IdCharacters) < 0;

    private static readonly System.Buffers.SearchValues<char> IdCharacters = System.Buffers.SearchValues.Create(ResourceIds.Alphabet);

    [GeneratedRegex("^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$")]
    private static partial Regex NoticeType();
}
