using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using RpcStatus = Google.Rpc.Status;

namespace Veil.Subscriptions;

/// <summary>
/// What subscriptions asks catalog: does an API exist, what is its canonical id and who owns it.
/// Every call carries a deadline (<see cref="SubscriptionsOptions.CatalogTimeout"/>, cut short by
/// the caller's own deadline) and the caller's cancellation. Catalog's NotFound stays NotFound;
/// anything else catalog fails to answer becomes Unavailable with a message that says so.
/// </summary>
public sealed class CatalogApis(CatalogService.CatalogServiceClient catalog, IOptionsMonitor<SubscriptionsOptions> options,
    SubscriptionsMetrics metrics, ILogger<CatalogApis> logger)
{
    /// <summary>The API with this id or slug as anyone may see it (upstream and documents left out).</summary>
    public async Task<Api> GetApiAsync(string idOrSlug, ServerCallContext context)
    {
        var deadline = DateTime.UtcNow + options.CurrentValue.CatalogTimeout;
        if (context.Deadline < deadline)
        {
            deadline = context.Deadline;
        }
        try
        {
            // Anonymous on purpose: only public fields are needed, and the caller's token is not ours to forward.
            var response = await catalog.GetApiAsync(new GetApiRequest { ApiId = idOrSlug }, deadline: deadline, cancellationToken: context.CancellationToken);
            return response.Api;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            throw RpcErrors.NotFound($"API '{idOrSlug}' was not found.");
        }
        catch (RpcException ex) when (!context.CancellationToken.IsCancellationRequested)
        {
            metrics.CatalogFailed();
            SubscriptionsLog.CatalogUnavailable(logger, nameof(catalog.GetApi), ex.StatusCode, ex);
            throw new RpcStatus
            {
                Code = (int)StatusCode.Unavailable,
                Message = $"The catalog service could not be reached ({ex.StatusCode}), so the API could not be checked. Try again shortly.",
            }.ToRpcException();
        }
    }
}
