using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Edge.Tests;

/// <summary>The one Unix-ms ↔ Timestamp conversion and request-time range check (defaults/Grpc/UnixMs.cs).</summary>
public sealed class UnixMsTests
{
    [Fact]
    public void ToTimestamp_AndBack_KeepTheMillisecond()
    {
        const long ms = 1_764_250_000_123;

        var timestamp = UnixMs.ToTimestamp(ms);

        Assert.Equal(1_764_250_000, timestamp.Seconds);
        Assert.Equal(123_000_000, timestamp.Nanos);
        Assert.Equal(ms, timestamp.ToUnixMs());
    }

    [Fact]
    public void ToUnixMs_DropsSubMillisecondDigits()
    {
        Assert.Equal(1_000_999, new Timestamp { Seconds = 1_000, Nanos = 999_999_999 }.ToUnixMs());
    }

    [Fact]
    public void FromRequest_UnsetIsNullWithoutAViolation()
    {
        var errors = new FieldViolations();

        Assert.Null(UnixMs.FromRequest(errors, "start_time", null));
        Assert.True(errors.IsEmpty);
    }

    [Theory]
    [InlineData(0L, 0)]                       // 1970-01-01
    [InlineData(221_845_392_000L, 0)]          // 9000-01-01
    public void FromRequest_AcceptsTheEndsOfTheRange(long seconds, int nanos)
    {
        var errors = new FieldViolations();

        Assert.Equal(seconds * 1000, UnixMs.FromRequest(errors, "start_time", new Timestamp { Seconds = seconds, Nanos = nanos }));
        Assert.True(errors.IsEmpty);
    }

    [Theory]
    [InlineData(-1L, 0)]                       // 1969
    [InlineData(221_845_392_001L, 0)]          // after 9000-01-01
    [InlineData(1_000L, -1)]
    [InlineData(1_000L, 1_000_000_000)]
    public void FromRequest_RefusesTimesOutsideTheRangeOnTheField(long seconds, int nanos)
    {
        var errors = new FieldViolations();

        Assert.Null(UnixMs.FromRequest(errors, "end_time", new Timestamp { Seconds = seconds, Nanos = nanos }));
        var badRequest = errors.ToException().GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        var violation = Assert.Single(badRequest.FieldViolations);
        Assert.Equal("end_time", violation.Field);
        Assert.Equal("Must be a time between 1970 and 9000.", violation.Description);
    }
}
