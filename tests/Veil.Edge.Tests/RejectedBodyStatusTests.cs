using Microsoft.AspNetCore.Http;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Tests;

/// <summary>
/// Which status a failed forward answers when Kestrel refused the request body: YARP reports it as a
/// body error (400) or, when the upstream send failed first, as a forwarding error (502) with the
/// body's exception inside; either way the client gets Kestrel's status.
/// </summary>
public sealed class RejectedBodyStatusTests
{
    private static readonly BadHttpRequestException TooLarge = new("Request body too large.", StatusCodes.Status413PayloadTooLarge);

    public static TheoryData<ForwarderError, Exception?, int?> Cases => new()
    {
        // YARP's body-error path: AggregateException(body exception, send exception).
        { ForwarderError.RequestBodyClient, new AggregateException(TooLarge, new HttpRequestException("send failed")), 413 },
        // The send failed first: HttpClient's exception wraps the body stream's.
        { ForwarderError.Request, new HttpRequestException("Error while copying content to a stream.", new IOException("copy", TooLarge)), 413 },
        // A body Kestrel could not parse keeps its own status.
        { ForwarderError.RequestBodyClient, new BadHttpRequestException("Bad chunk size data.", StatusCodes.Status400BadRequest), 400 },
        // Not the client's body: YARP's status stands.
        { ForwarderError.Request, new HttpRequestException("Connection refused", new IOException("refused")), null },
        { ForwarderError.RequestTimedOut, null, null },
        { ForwarderError.None, TooLarge, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RejectedBodyStatus_ForwarderErrors(ForwarderError error, Exception? exception, int? status) =>
        Assert.Equal(status, ApiCallMiddleware.RejectedBodyStatus(new ErrorFeature(error, exception)));

    private sealed record ErrorFeature(ForwarderError Error, Exception? Exception) : IForwarderErrorFeature;
}
