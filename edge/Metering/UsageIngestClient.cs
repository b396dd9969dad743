using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Veil.Usage.V1;

namespace Veil.Edge.Usage;

/// <summary>
/// Spooled groups on their way to usage: each body is an encoded <see cref="IngestEventsRequest"/>.
/// Protobuf concatenation merges messages and appends repeated fields, so the bodies one after
/// another are the encoding of one request carrying all <see cref="Events"/> events. Bodies live in
/// pooled arrays (a group is often larger than the large-object threshold):
/// <see cref="ReturnBuffers"/> once the batch was acknowledged.
/// </summary>
internal sealed class SpooledBatch(IReadOnlyList<ArraySegment<byte>> bodies, int events, long lastSeq)
{
    public IReadOnlyList<ArraySegment<byte>> Bodies { get; } = bodies;

    public int Events { get; } = events;

    public long LastSeq { get; } = lastSeq;

    public int Bytes { get; } = bodies.Sum(b => b.Count);

    /// <summary>
    /// Gives the bodies' arrays back to the pool. Only after a call that completed: a call that
    /// failed might still be serializing them, so a failed batch's arrays are left to the GC.
    /// </summary>
    public void ReturnBuffers()
    {
        foreach (var body in Bodies)
        {
            ArrayPool<byte>.Shared.Return(body.Array!);
        }
    }
}

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
