using System.Buffers;
using Veil.Usage.V1;

namespace Veil.Edge.Metering;

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
