using System.Globalization;
using Grpc.Core;
using Veil.Samples.Greeter.V1;

namespace Veil.Samples.Greeter;

/// <summary>
/// The greeter: what a provider's gRPC service looks like behind Veil. It knows nothing about the
/// edge; it sees the caller's deadline (<c>grpc-timeout</c>, passed through) and Veil's
/// <c>X-Veil-*</c> headers as metadata, and it ends every call with a trailer.
/// </summary>
public sealed class GreeterGrpcService : GreeterService.GreeterServiceBase
{
    /// <summary>The trailer every call ends with: the caller's deadline as the greeter saw it.</summary>
    public const string DeadlineTrailer = "greeter-deadline-ms";

    private const int MaxWaitMs = 60_000;

    public override async Task<SayHelloResponse> SayHello(SayHelloRequest request, ServerCallContext context)
    {
        var delay = Checked(request.DelayMs, 0, MaxWaitMs, "delay_ms");
        AddDeadlineTrailer(context);
        if (delay > 0)
        {
            await Task.Delay(delay, context.CancellationToken);
        }
        return new SayHelloResponse { Message = "Hello " + NameOf(request.Name) };
    }

    public override async Task SayHellos(SayHellosRequest request, IServerStreamWriter<SayHellosResponse> responseStream, ServerCallContext context)
    {
        var count = request.Count == 0 ? 3 : Checked(request.Count, 1, 1000, "count");
        var interval = Checked(request.IntervalMs, 0, MaxWaitMs, "interval_ms");
        AddDeadlineTrailer(context);
        var name = NameOf(request.Name);
        for (var index = 1; index <= count; index++)
        {
            if (index > 1 && interval > 0)
            {
                await Task.Delay(interval, context.CancellationToken);
            }
            await responseStream.WriteAsync(new SayHellosResponse
            {
                Message = string.Create(CultureInfo.InvariantCulture, $"Hello {name} #{index}"),
                Index = index,
            }, context.CancellationToken);
        }
    }

    public override async Task Chat(IAsyncStreamReader<ChatRequest> requestStream, IServerStreamWriter<ChatResponse> responseStream, ServerCallContext context)
    {
        AddDeadlineTrailer(context);
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            await responseStream.WriteAsync(new ChatResponse { Message = "Hello " + NameOf(request.Name) }, context.CancellationToken);
        }
    }

    private static string NameOf(string name) => string.IsNullOrWhiteSpace(name) ? "world" : name.Trim();

    private static int Checked(int value, int min, int max, string field) =>
        value >= min && value <= max
            ? value
            : throw new RpcException(new Status(StatusCode.InvalidArgument,
                string.Create(CultureInfo.InvariantCulture, $"{field} must be {min} to {max}; it is {value}.")));

    private static void AddDeadlineTrailer(ServerCallContext context)
    {
        var left = context.Deadline == DateTime.MaxValue
            ? "none"
            : Math.Max(0, (long)(context.Deadline - DateTime.UtcNow).TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        context.ResponseTrailers.Add(DeadlineTrailer, left);
    }
}
