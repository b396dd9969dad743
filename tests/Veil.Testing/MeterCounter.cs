using System.Diagnostics.Metrics;

namespace Veil.Testing;

/// <summary>
/// Sums one counter of one host's meter (hosts in the same process are told apart by the meter's
/// scope, their own IMeterFactory), optionally only measurements carrying a given tag value.
/// </summary>
public sealed class MeterCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly string? _tagKey;
    private readonly string? _tagValue;
    private long _total;

    public MeterCounter(IMeterFactory scope, string meterName, string instrumentName, string? tagKey = null, string? tagValue = null)
    {
        _tagKey = tagKey;
        _tagValue = tagValue;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName && instrument.Name == instrumentName && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (_tagKey is null || Matches(tags))
            {
                Interlocked.Add(ref _total, value);
            }
        });
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    private bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == _tagKey && Equals(tag.Value, _tagValue))
            {
                return true;
            }
        }
        return false;
    }

    public void Dispose() => _listener.Dispose();
}
