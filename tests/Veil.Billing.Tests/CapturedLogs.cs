using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Veil.Billing.Tests;

/// <summary>One log entry: its event id, level and structured values.</summary>
public sealed record LogEntry(string Category, LogLevel Level, int EventId, string Message, IReadOnlyDictionary<string, object?> Values);

/// <summary>Billing's event ids the tests wait on or count (see BillingLog).</summary>
public static class BillingEvents
{
    public const int SyncCompleted = 7001;
    public const int SubscriptionsListingUnavailable = 7018;
    public const int SubscriptionsListingBack = 7019;
}

/// <summary>
/// A logger provider that keeps what one host logged, so a test can wait for a job to have run
/// (instead of sleeping) and count how often something was said.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public int Count(int eventId) => _entries.Count(e => e.EventId == eventId);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
        // Nothing to release; the entries stay readable after the host stops.
    }

    private sealed class Logger(CapturedLogs sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs)
                {
                    values.TryAdd(key, value);
                }
            }
            sink._entries.Enqueue(new LogEntry(category, logLevel, eventId.Id, formatter(state, exception), values));
        }
    }
}
