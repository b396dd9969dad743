using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Veil.Usage.V1;

namespace Veil.Edge.Metering;

/// <summary>
/// usage's <c>IngestEvents</c>, called with the spool's bytes as they are: the edge encodes each
/// event once (when it spools it) and never parses it again. Same method, same wire format as
/// <see cref="UsageService.UsageServiceClient.IngestEventsAsync(IngestEventsRequest, CallOptions)"/>.
/// </summary>
internal sealed class UsageIngestClient : ClientBase<UsageIngestClient>
{
    private static readonly Method<SpooledBatch, IngestEventsResponse> IngestEvents = new(
        MethodType.Unary,
        UsageService.Descriptor.FullName,
        nameof(IngestEvents),
        Marshallers.Create<SpooledBatch>(Serialize, static _ => throw new NotSupportedException("The edge only sends spooled batches.")),
        Marshallers.Create(static (IngestEventsResponse response) => response.ToByteArray(), IngestEventsResponse.Parser.ParseFrom));

    public UsageIngestClient(CallInvoker callInvoker) : base(callInvoker)
    {
    }

    private UsageIngestClient(ClientBaseConfiguration configuration) : base(configuration)
    {
    }

    public AsyncUnaryCall<IngestEventsResponse> IngestAsync(SpooledBatch batch, DateTime deadline, CancellationToken cancellationToken) =>
        CallInvoker.AsyncUnaryCall(IngestEvents, null, new CallOptions(deadline: deadline, cancellationToken: cancellationToken), batch);

    protected override UsageIngestClient NewInstance(ClientBaseConfiguration configuration) => new(configuration);

    private static void Serialize(SpooledBatch batch, SerializationContext context)
    {
        context.SetPayloadLength(batch.Bytes);
        var writer = context.GetBufferWriter();
        foreach (var body in batch.Bodies)
        {
            writer.Write(body.AsSpan());
        }
        context.Complete();
    }
}
