using Microsoft.Extensions.Options;

namespace Veil.Edge.Usage;

/// <summary>
/// Runs the spool's writer and the shipper. It stops in <see cref="StoppedAsync"/>, after every
/// hosted service's StopAsync and so after Kestrel has drained its in-flight requests: every
/// answered call's event is in the channel by then. The writer commits the channel, then the
/// shipper gets a bounded last attempt; whatever is left stays in the file for the next start.
/// </summary>
internal sealed class UsageSpoolService(UsageSpool spool, UsageShipper shipper, IOptions<EdgeUsageOptions> options, ILogger<UsageSpoolService> logger)
    : IHostedLifecycleService
{
    private readonly CancellationTokenSource _stopShipping = new();
    private Task _writer = Task.CompletedTask;
    private Task _shipper = Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        spool.Open();
        _writer = Task.Run(spool.RunWriterAsync, CancellationToken.None);
        _shipper = Task.Run(() => shipper.RunAsync(_stopShipping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        spool.CompleteAdding();
        await _writer.WaitAsync(cancellationToken);
        await _stopShipping.CancelAsync();
        await _shipper.WaitAsync(cancellationToken);
        await shipper.DrainAsync(options.Value.StopShipTimeout, cancellationToken);
        UsageLog.SpoolStopped(logger, spool.Depth);
        spool.Dispose();
        _stopShipping.Dispose();
    }
}
