using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Billing;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;
using Veil.Usage.Data;
using Veil.Usage.V1;
using Veil.Usage.Webhooks;

namespace Veil.Usage.Grpc;

/// <summary>Metering, quotas and quota notifications (veil.usage.v1.UsageService).</summary>
public sealed partial class UsageGrpcService(
    UsageStore store, QuotaStateFeed quotas, WebhookDispatcher webhooks, UsageMetrics metrics,
    IOptions<UsageOptions> options, TimeProvider time, ILogger<UsageGrpcService> logger) : UsageService.UsageServiceBase
{
    private const int DefaultCyclePageSize = 500;
    private const int MaxCyclePageSize = 1000;

    /// <summary>Longest range per granularity, so one query reads a bounded number of buckets.</summary>
    private static readonly Dictionary<Granularity, (TimeSpan Max, TimeSpan Default)> Ranges = new()
    {
        [Granularity.Minute] = (TimeSpan.FromDays(2), TimeSpan.FromHours(1)),
        [Granularity.Hour] = (TimeSpan.FromDays(90), TimeSpan.FromDays(1)),
        [Granularity.Day] = (TimeSpan.FromDays(400), TimeSpan.FromDays(30)),
    };

    public override async Task<IngestEventsResponse> IngestEvents(IngestEventsRequest request, ServerCallContext context)
    {
        var max = options.Value.MaxBatchSize;
        var errors = new FieldViolations();
        for (var i = 0; i < request.Groups.Count; i++)
        {
            var group = request.Groups[i];
            var calls = group.CallCount;
            if (calls < 0)
            {
                errors.Add($"groups[{i}]", "event_ids, occurred_at_ms, status_codes, latencies_ms, bytes_in, bytes_out and billable must hold one entry per call each; request_ids and paths one per call or none.");
            }
            else if (calls == 0)
            {
                errors.Add($"groups[{i}]", "A group holds at least one call.");
            }
            if (group.Context is { HasCallFields: true })
            {
                errors.Add($"groups[{i}].context", "Per-call fields (event_id, occurred_at, status_code, latency_ms, bytes_in, bytes_out, billable, request_id, path) belong in the group's columns, not its context.");
            }
        }
        errors.ThrowIfAny();
        var count = request.EventCount;
        if (count == 0)
        {
            throw RpcErrors.InvalidArgument("events", "At least one event is required.");
        }
        if (count > max)
        {
            UsageLog.BatchTooLarge(logger, count, max);
            throw RpcErrors.InvalidArgument("events", $"At most {max} events per batch (events and the groups' calls together); split the batch.");
        }

        var started = time.GetTimestamp();
        var result = await store.IngestAsync(request, context.CancellationToken);
        var elapsed = time.GetElapsedTime(started);

        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        metrics.Ingested(result.Accepted, result.Duplicates, result.Quarantined, result.QuarantinedBillable, elapsed,
            result.OldestAcceptedMs is { } oldest ? TimeSpan.FromMilliseconds(nowMs - oldest) : null);
        UsageLog.BatchIngested(logger, count, result.Accepted, result.Duplicates, result.Quarantined, elapsed.TotalMilliseconds);
        if (result.Quarantined > 0)
        {
            UsageLog.EventsQuarantined(logger, result.Quarantined, result.OutsideWindow, result.Future, result.Invalid, result.QuarantinedBillable);
        }
        return new IngestEventsResponse { Accepted = result.Accepted, Duplicates = result.Duplicates, Quarantined = result.Quarantined };
    }

    public override async Task<QueryUsageResponse> QueryUsage(QueryUsageRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireScope(VeilClaims.Scopes.UsageRead);
        var errors = new FieldViolations();
        var granularity = ParseGranularity(errors, request.Granularity);
        var (maxRange, defaultRange) = Ranges[granularity];
        var endMs = UnixMs.FromRequest(errors, "end_time", request.EndTime) ?? time.GetUtcNow().ToUnixTimeMilliseconds();
        var startMs = UnixMs.FromRequest(errors, "start_time", request.StartTime) ?? endMs - (long)defaultRange.TotalMilliseconds;
        if (errors.IsEmpty)
        {
            if (endMs <= startMs)
            {
                errors.Add("end_time", "Must be after start_time.");
            }
            else if (endMs - startMs > (long)maxRange.TotalMilliseconds)
            {
                errors.Add("end_time", $"A {Name(granularity)} query may span at most {maxRange.TotalDays:0} days; narrow the range or use a coarser granularity.");
            }
        }
        errors.ThrowIfAny();

        var unit = UsageStore.UnitMs(granularity);
        startMs -= startMs % unit;
        var response = new QueryUsageResponse
        {
            Granularity = Name(granularity),
            StartTime = UnixMs.ToTimestamp(startMs),
            EndTime = UnixMs.ToTimestamp(endMs),
            Totals = new UsageBucket { StartTime = UnixMs.ToTimestamp(startMs) },
        };
        if (ScopeOf(caller) is not { } scope)
        {
            return response;
        }
        var filter = new UsageFilter(NullIfEmpty(request.ApiId), NullIfEmpty(request.SubscriptionId), NullIfEmpty(request.KeyId));
        foreach (var row in await store.QueryBucketsAsync(granularity, startMs, endMs, scope, filter, context.CancellationToken))
        {
            response.Buckets.Add(new UsageBucket
            {
                StartTime = UnixMs.ToTimestamp(row.StartMs),
                TotalCalls = row.Total,
                BillableCalls = row.Billable,
                BytesIn = row.BytesIn,
                BytesOut = row.BytesOut,
            });
            response.Totals.TotalCalls += row.Total;
            response.Totals.BillableCalls += row.Billable;
            response.Totals.BytesIn += row.BytesIn;
            response.Totals.BytesOut += row.BytesOut;
        }
        return response;
    }

    public override async Task<GetQuotaStatusResponse> GetQuotaStatus(GetQuotaStatusRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireScope(VeilClaims.Scopes.UsageRead);
        if (string.IsNullOrEmpty(request.SubscriptionId))
        {
            throw RpcErrors.InvalidArgument("subscription_id", "Required.");
        }
        var terms = ScopeOf(caller) is { } scope
            ? await store.GetSubscriptionAsync(request.SubscriptionId, scope, context.CancellationToken)
            : null;
        if (terms is null)
        {
            // Also the answer for another tenant's subscription: existence is not revealed.
            throw RpcErrors.NotFound($"No usage is recorded for subscription '{request.SubscriptionId}'.");
        }

        var cycle = BillingCycle.Containing(terms.SubscriptionStartMs, time.GetUtcNow().ToUnixTimeMilliseconds());
        // The quota follows the consumer, the API and the cycle, across re-subscriptions within it.
        var counts = await store.GetQuotaCountsAsync(terms.ConsumerId, terms.ApiId, cycle.StartMs, context.CancellationToken);
        var unlimited = terms.MonthlyQuota == 0;
        return new GetQuotaStatusResponse
        {
            Status = new QuotaStatus
            {
                SubscriptionId = terms.SubscriptionId,
                ConsumerId = terms.ConsumerId,
                ApiId = terms.ApiId,
                PlanId = terms.PlanId,
                CycleStart = UnixMs.ToTimestamp(cycle.StartMs),
                CycleEnd = UnixMs.ToTimestamp(cycle.EndMs),
                Used = counts.Billable,
                TotalCalls = counts.Total,
                MonthlyQuota = terms.MonthlyQuota,
                Unlimited = unlimited,
                Remaining = unlimited ? 0 : Math.Max(0, terms.MonthlyQuota - counts.Billable),
                OverageAllowed = terms.OverageAllowed,
                Exhausted = !unlimited && counts.Billable >= terms.MonthlyQuota,
                OverageCalls = unlimited ? 0 : Math.Max(0, counts.Billable - terms.MonthlyQuota),
            },
        };
    }

    public override async Task WatchQuotaStates(WatchQuotaStatesRequest request, IServerStreamWriter<QuotaStates> responseStream, ServerCallContext context)
    {
        var edge = string.IsNullOrEmpty(request.EdgeId) ? "(unnamed)" : request.EdgeId;
        metrics.WatcherConnected();
        UsageLog.QuotaWatcherConnected(logger, edge);
        try
        {
            long revision = 0;
            while (!context.CancellationToken.IsCancellationRequested)
            {
                var states = await quotas.WaitNewerThanAsync(revision, context.CancellationToken);
                await responseStream.WriteAsync(states, context.CancellationToken);
                revision = states.Revision;
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The edge disconnected or the server is stopping.
        }
        finally
        {
            metrics.WatcherDisconnected();
            UsageLog.QuotaWatcherDisconnected(logger, edge);
        }
    }

    public override async Task<SetWebhookResponse> SetWebhook(SetWebhookRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer);
        var errors = new FieldViolations();
        WebhookTargets.CheckUrl(errors, request.Url, options.Value.AllowPrivateWebhooks);
        WebhookTargets.CheckSecret(errors, request.Secret);
        WebhookSignature.CheckSecret(errors, request.Secret);
        errors.ThrowIfAny();

        var record = await store.SetWebhookAsync(caller.AccountId, request.Url, webhooks.ProtectSecret(caller.AccountId, request.Secret), context.CancellationToken);
        UsageLog.WebhookSet(logger, caller.AccountId);
        return new SetWebhookResponse { Webhook = ToProto(record) };
    }

    public override async Task<GetWebhookResponse> GetWebhook(GetWebhookRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer);
        var record = await store.GetWebhookAsync(caller.AccountId, context.CancellationToken)
            ?? throw RpcErrors.NotFound("No webhook is set.");
        return new GetWebhookResponse { Webhook = ToProto(record) };
    }

    public override async Task<DeleteWebhookResponse> DeleteWebhook(DeleteWebhookRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer);
        if (!await store.DeleteWebhookAsync(caller.AccountId, context.CancellationToken))
        {
            throw RpcErrors.NotFound("No webhook is set.");
        }
        UsageLog.WebhookDeleted(logger, caller.AccountId);
        return new DeleteWebhookResponse();
    }

    public override async Task<ListWebhookDeliveriesResponse> ListWebhookDeliveries(ListWebhookDeliveriesRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(VeilClaims.Roles.Consumer);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var before = PageToken.DecodeNumber(errors, request.PageToken, nameof(ListWebhookDeliveries));
        errors.ThrowIfAny();

        var rows = await store.ListDeliveriesAsync(caller.AccountId, pageSize + 1, before, context.CancellationToken);
        var response = new ListWebhookDeliveriesResponse();
        response.Deliveries.AddRange(rows.Take(pageSize).Select(d => new WebhookDelivery
        {
            NotificationId = d.NotificationId,
            SubscriptionId = d.SubscriptionId,
            ThresholdPercent = d.ThresholdPercent,
            Attempt = d.Attempt,
            AttemptTime = UnixMs.ToTimestamp(d.AttemptedAtMs),
            Url = d.Url,
            StatusCode = d.StatusCode,
            Error = d.Error,
            Succeeded = d.Succeeded,
            DurationMs = d.DurationMs,
            Type = d.Type,
        }));
        if (rows.Count > pageSize)
        {
            response.NextPageToken = PageToken.Encode(nameof(ListWebhookDeliveries), rows[pageSize - 1].Id.ToString(CultureInfo.InvariantCulture));
        }
        return response;
    }

    public override async Task<ListQuarantinedEventsResponse> ListQuarantinedEvents(ListQuarantinedEventsRequest request, ServerCallContext context)
    {
        Caller.From(context).RequireRole(VeilClaims.Roles.BillingManager);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var before = PageToken.DecodeNumber(errors, request.PageToken, nameof(ListQuarantinedEvents));
        errors.ThrowIfAny();

        var rows = await store.ListQuarantineAsync(pageSize + 1, before, context.CancellationToken);
        var response = new ListQuarantinedEventsResponse();
        response.Events.AddRange(rows.Take(pageSize).Select(q => new QuarantinedEvent
        {
            Event = q.Event,
            Reason = q.Reason,
            Detail = q.Detail,
            QuarantineTime = UnixMs.ToTimestamp(q.ReceivedAtMs),
        }));
        if (rows.Count > pageSize)
        {
            response.NextPageToken = PageToken.Encode(nameof(ListQuarantinedEvents), rows[pageSize - 1].Id.ToString(CultureInfo.InvariantCulture));
        }
        return response;
    }

    public override async Task<ListCycleUsageResponse> ListCycleUsage(ListCycleUsageRequest request, ServerCallContext context)
    {
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize, DefaultCyclePageSize, MaxCyclePageSize);
        var endAfter = UnixMs.FromRequest(errors, "cycle_end_after", request.CycleEndAfter);
        var startBefore = UnixMs.FromRequest(errors, "cycle_start_before", request.CycleStartBefore);
        var after = CycleToken(errors, request.PageToken);
        errors.ThrowIfAny();

        var rows = await store.ListCyclesAsync(NullIfEmpty(request.SubscriptionId), endAfter, startBefore,
            request.RecountFromEvents, pageSize + 1, after, context.CancellationToken);
        var response = new ListCycleUsageResponse();
        response.Cycles.AddRange(rows.Take(pageSize).Select(c => new CycleUsage
        {
            SubscriptionId = c.Terms.SubscriptionId,
            ConsumerId = c.Terms.ConsumerId,
            ProviderId = c.Terms.ProviderId,
            ApiId = c.Terms.ApiId,
            PlanId = c.Terms.PlanId,
            CycleStart = UnixMs.ToTimestamp(c.CycleStartMs),
            CycleEnd = UnixMs.ToTimestamp(c.CycleEndMs),
            TotalCalls = c.Total,
            BillableCalls = c.Billable,
            MonthlyQuota = c.Terms.MonthlyQuota,
            OverageAllowed = c.Terms.OverageAllowed,
            PricePerCallMinor = c.Terms.PricePerCallMinor,
            Currency = c.Terms.Currency,
            QuotaUsedBefore = c.QuotaUsedBefore,
        }));
        if (rows.Count > pageSize)
        {
            var last = rows[pageSize - 1];
            response.NextPageToken = PageToken.Encode(nameof(ListCycleUsage), last.Terms.SubscriptionId, last.CycleStartMs.ToString(CultureInfo.InvariantCulture));
        }
        return response;
    }

    public override async Task<ListCallsResponse> ListCalls(ListCallsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireScope(VeilClaims.Scopes.UsageRead);
        var errors = new FieldViolations();
        CheckId(errors, "key_id", request.KeyId);
        CheckId(errors, "api_id", request.ApiId);
        var (statusMin, statusMax) = ParseStatus(errors, request.Status);
        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        var endMs = UnixMs.FromRequest(errors, "end_time", request.EndTime) ?? nowMs;
        var startMs = UnixMs.FromRequest(errors, "start_time", request.StartTime);
        if (errors.IsEmpty && startMs is { } start && endMs <= start)
        {
            errors.Add("end_time", "Must be after start_time.");
        }
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var before = PageToken.Decode(errors, request.PageToken, nameof(ListCalls), 2) is [var at, var id] &&
            PageToken.Number(errors, at, NumberStyles.AllowLeadingSign) is { } atMs && PageToken.Number(errors, id, NumberStyles.None) is { } rowId
            ? new CallCursor(atMs, rowId)
            : (CallCursor?)null;
        errors.ThrowIfAny();

        var response = new ListCallsResponse();
        if (ScopeOf(caller) is not { } scope)
        {
            return response;
        }
        // Nothing older than the call-log retention is listed, whether or not the retention job
        // has deleted it yet.
        var earliest = nowMs - (long)options.Value.Retention.CallLog.TotalMilliseconds;
        var filter = new CallFilter(NullIfEmpty(request.KeyId), NullIfEmpty(request.ApiId), statusMin, statusMax,
            Math.Max(earliest, startMs ?? earliest), endMs);
        var rows = await store.ListCallsAsync(scope, filter, before, pageSize + 1, context.CancellationToken);
        response.Calls.AddRange(rows.Take(pageSize).Select(c => new Call
        {
            EventId = c.EventId,
            RequestTime = UnixMs.ToTimestamp(c.OccurredMs),
            ApiId = c.ApiId,
            Method = c.Method,
            Path = c.Path,
            StatusCode = c.StatusCode,
            LatencyMs = c.LatencyMs,
            RequestId = c.RequestId,
            KeyId = c.KeyId,
            // Part of the key's secret: for its owner (and administrators), not for the API's provider.
            KeyPrefix = scope.ProviderId is null || c.ConsumerId == caller.AccountId ? c.KeyPrefix : "",
            Billable = c.Billable,
        }));
        if (rows.Count > pageSize)
        {
            var last = rows[pageSize - 1];
            response.NextPageToken = PageToken.Encode(nameof(ListCalls),
                last.OccurredMs.ToString(CultureInfo.InvariantCulture), last.Id.ToString(CultureInfo.InvariantCulture));
        }
        return response;
    }

    /// <summary>A ListCalls status filter: empty (any), an exact code ("404") or a class ("4xx").</summary>
    private static (int Min, int Max) ParseStatus(FieldViolations errors, string value)
    {
        if (value.Length == 0)
        {
            return (100, 599);
        }
        if (value.Length == 3 && value[0] is >= '1' and <= '5')
        {
            var hundreds = (value[0] - '0') * 100;
            if (value[1] is 'x' or 'X' && value[2] is 'x' or 'X')
            {
                return (hundreds, hundreds + 99);
            }
            if (char.IsAsciiDigit(value[1]) && char.IsAsciiDigit(value[2]))
            {
                var code = hundreds + ((value[1] - '0') * 10) + (value[2] - '0');
                return (code, code);
            }
        }
        errors.Add("status", "Must be a status code from 100 to 599 (\"404\") or a class from 1xx to 5xx (\"5xx\").");
        return (100, 599);
    }

    private static void CheckId(FieldViolations errors, string field, string value)
    {
        if (value.Length > EventRules.MaxIdLength || value.Any(c => c is < '!' or > '~'))
        {
            errors.Add(field, "At most 128 printable ASCII characters.");
        }
    }

    /// <summary>Whose usage the caller may read; null: nobody's.</summary>
    private static UsageScope? ScopeOf(Caller caller) => caller.Role switch
    {
        VeilClaims.Roles.Admin or VeilClaims.Roles.BillingManager => UsageScope.Everything,
        VeilClaims.Roles.Consumer => new UsageScope(caller.AccountId, null),
        VeilClaims.Roles.Provider => new UsageScope(null, caller.AccountId),
        _ => null,
    };

    private static Granularity ParseGranularity(FieldViolations errors, string value)
    {
        switch (value.ToUpperInvariant())
        {
            case "" or "HOUR":
                return Granularity.Hour;
            case "MINUTE":
                return Granularity.Minute;
            case "DAY":
                return Granularity.Day;
            default:
                errors.Add("granularity", "Must be MINUTE, HOUR or DAY.");
                return Granularity.Hour;
        }
    }

    private static string Name(Granularity granularity) => granularity.ToString().ToUpperInvariant();

    private static (string, long)? CycleToken(FieldViolations errors, string token) =>
        PageToken.Decode(errors, token, nameof(ListCycleUsage), 2) is [var subscriptionId, var key] &&
        PageToken.Number(errors, key, NumberStyles.AllowLeadingSign) is { } start
            ? (subscriptionId, start)
            : null;

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static Webhook ToProto(WebhookRecord record) => new()
    {
        Url = record.Url,
        CreateTime = UnixMs.ToTimestamp(record.CreatedAtMs),
        UpdateTime = UnixMs.ToTimestamp(record.UpdatedAtMs),
    };
}
