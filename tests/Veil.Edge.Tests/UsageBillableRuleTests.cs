using System.Net;
using Veil.Edge.Calls;
using Veil.Edge.Metering;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Tests;

/// <summary>The billable rule (docs/usage-and-billing.md): the upstream answered and no edge step refused the call.</summary>
public sealed class UsageBillableRuleTests
{
    [Theory]
    [InlineData(null, true)]
    [InlineData(ForwarderError.ResponseBodyClient, true)]        // client left mid-body: the upstream did the work
    [InlineData(ForwarderError.ResponseBodyDestination, true)]   // upstream cut its own body
    [InlineData(ForwarderError.Request, false)]                  // edge 502: upstream unreachable
    [InlineData(ForwarderError.RequestTimedOut, false)]          // edge 504
    [InlineData(ForwarderError.NoAvailableDestinations, false)]  // edge 503
    [InlineData(ForwarderError.RequestBodyClient, false)]        // edge 400: unreadable body
    [InlineData(ForwarderError.RequestCanceled, false)]          // client gone before any answer
    public void IsBillable_EntitledCall_FollowsWhoProducedTheResponse(ForwarderError? error, bool billable)
    {
        var call = new ApiCallFeature("api_1", 0) { SubscriptionId = "sub_1", PlanId = "plan_1" };

        Assert.Equal(billable, UsageRecorder.IsBillable(call, error is { } e ? new ErrorFeature(e) : null));
    }

    [Fact]
    public void IsBillable_UpstreamAddressRefusedByTheGuard_IsNotBillable()
    {
        var call = new ApiCallFeature("api_1", 0) { SubscriptionId = "sub_1", PlanId = "plan_1" };
        var refused = new HttpRequestException("connect failed", new AddressNotAllowedException("evil.example.com", [IPAddress.Loopback]));

        Assert.False(UsageRecorder.IsBillable(call, new ErrorFeature(ForwarderError.Request, refused)));
    }

    [Fact]
    public void IsBillable_StepRefusedOrNotEntitled_IsNotBillable()
    {
        Assert.False(UsageRecorder.IsBillable(new ApiCallFeature("api_1", 0) { SubscriptionId = "sub_1", Billable = false }, null));
        Assert.False(UsageRecorder.IsBillable(new ApiCallFeature("api_1", 0) { SubscriptionId = "sub_1", Outcome = Outcomes.QuotaExhausted }, null));
        Assert.False(UsageRecorder.IsBillable(new ApiCallFeature("api_1", 0) { ConsumerId = "acc_1" }, null));
        Assert.False(UsageRecorder.IsBillable(null, null));
    }

    private sealed record ErrorFeature(ForwarderError Error, Exception? Exception = null) : IForwarderErrorFeature;
}
