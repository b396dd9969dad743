using Microsoft.Extensions.Options;

namespace Veil.Edge.Metering;

/// <summary>
/// Runs the spool's writer and the shipper. It stops in <see cref="StoppedAsync"/>, after every
/// hosted service's StopAsync and so after Kestrel has drained its in-flight requests: every
/// answered call's event is in the channel by then. The writer commits the channel, then the
/// shipper gets a bounded last attempt; whatever is left stays in the file for the next start.
/// </summary>
internal sealed class UsageSpoolService(UsageSpool spool, UsageShipper shipper, IOptions<EdgeUsageOptions> options, ILogger<UsageSpoolService> logger)
    : IHostedLifecycleService, IAsyncDisposable
{
    private readonly CancellationTokenSource _stopShipping = new();
    private readonly Lock _stopGate = new();
    private Task _writer = Task.CompletedTask;
    private Task _shipper = Task.CompletedTask;
    private bool _started;
    private Task? _stopped;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        spool.Open();
        _writer = Task.Run(spool.RunWriterAsync, CancellationToken.None);
        _shipper = Task.Run(() => shipper.RunAsync(_stopShipping.Token), CancellationToken.None);
        lock (_stopGate)
        {
            _started = true;
        }
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Stop(cancellationToken);

    /// <summary>
    /// The container disposes this service before the spool it depends on. Disposal waits for a stop
    /// in progress (a host may stop and dispose concurrently), and stops the writer and shipper itself
    /// when the host never called StoppedAsync (it failed to start: Kestrel could not bind, say), so
    /// the file is never closed under them.
    /// </summary>
    public async ValueTask DisposeAsync() => await Stop(new CancellationToken(canceled: true));

    /// <summary>One stop, whoever asks first; later callers wait for the same one.</summary>
    private Task Stop(CancellationToken cancellationToken)
    {
        lock (_stopGate)
        {
            return _stopped ??= _started ? StopCoreAsync(cancellationToken) : Task.CompletedTask;
        }
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        // The writer and the shipper are awaited even when the host is in a hurry (a cancelled
        // token): both end promptly (one commit; a cancelled call), and the spool must not be closed
        // under them. Only the last shipping attempt is cut short.
        spool.CompleteAdding();
        await _writer.ConfigureAwait(false);
        await _stopShipping.CancelAsync();
        await _shipper.ConfigureAwait(false);
        if (!cancellationToken.IsCancellationRequested)
        {
            await shipper.DrainAsync(options.Value.StopShipTimeout, cancellationToken);
        }
        UsageLog.SpoolStopped(logger, spool.Depth);
        spool.Dispose();
        _stopShipping.Dispose();
    }
}
