using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Billing.V1;
using Veil.ServiceDefaults.Grpc;
using RpcStatus = Google.Rpc.Status;

namespace Veil.Subscriptions;

/// <summary>
/// Asks billing whether a consumer is on credit hold before a paid subscription starts. Only when
/// billing is configured (<c>services:billing:grpc:0</c>); otherwise holds are not enforced, which
/// is logged once at start. Fails closed: when billing does not answer within
/// <see cref="SubscriptionsOptions.BillingTimeout"/>, the paid subscription is refused as Unavailable.
/// </summary>
public sealed class CreditHolds(IOptionsMonitor<SubscriptionsOptions> options, SubscriptionsMetrics metrics, ILogger<CreditHolds> logger,
    BillingService.BillingServiceClient? billing = null)
{
    /// <summary>Whether holds are enforced (billing is configured).</summary>
    public bool Enforced => billing is not null;

    /// <summary>Throws FailedPrecondition when the account is on hold, Unavailable when billing cannot tell.</summary>
    public async Task EnsureNotOnHoldAsync(string accountId, ServerCallContext context)
    {
        if (billing is null)
        {
            return;
        }
        var deadline = DateTime.UtcNow + options.CurrentValue.BillingTimeout;
        if (context.Deadline < deadline)
        {
            deadline = context.Deadline;
        }
        CheckCreditHoldResponse answer;
        try
        {
            answer = await billing.CheckCreditHoldAsync(new CheckCreditHoldRequest { AccountId = accountId }, deadline: deadline,
                cancellationToken: context.CancellationToken);
        }
        catch (RpcException ex) when (!context.CancellationToken.IsCancellationRequested)
        {
            metrics.CreditHoldChecked("unavailable");
            SubscriptionsLog.BillingUnavailable(logger, ex.StatusCode, ex);
            throw new RpcStatus
            {
                Code = (int)StatusCode.Unavailable,
                Message = $"The billing service could not be reached ({ex.StatusCode}), so the account's credit standing could not be checked. " +
                    "Paid plans need that check; free plans are not affected. Try again shortly.",
            }.ToRpcException();
        }
        if (answer.OnHold)
        {
            metrics.CreditHoldChecked("on_hold");
            SubscriptionsLog.RefusedOnCreditHold(logger, accountId);
            throw RpcErrors.FailedPrecondition(
                $"The account is on credit hold, so it cannot subscribe to paid plans: {answer.Reason} Free plans remain available.");
        }
        metrics.CreditHoldChecked("clear");
    }
}

/// <summary>Says once at start when billing is not configured and credit holds are therefore not enforced.</summary>
internal sealed class CreditHoldsNotice(CreditHolds holds, ILogger<CreditHolds> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!holds.Enforced)
        {
            SubscriptionsLog.CreditHoldsNotEnforced(logger);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
