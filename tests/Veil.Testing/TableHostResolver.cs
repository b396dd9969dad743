using System.Collections.Concurrent;
using System.Net;
using Veil.ServiceDefaults.Security;

namespace Veil.Testing;

/// <summary>
/// A test resolver: the names in its table resolve to fixed addresses (with or without the
/// trailing dot of an absolute name), every other name through DNS. Remembers every name asked.
/// </summary>
public sealed class TableHostResolver(IReadOnlyDictionary<string, IPAddress[]> table) : IHostResolver
{
    public ConcurrentQueue<string> Asked { get; } = new();

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        Asked.Enqueue(host);
        return table.TryGetValue(host.TrimEnd('.'), out var addresses)
            ? Task.FromResult(addresses)
            : Dns.GetHostAddressesAsync(host, cancellationToken);
    }
}
