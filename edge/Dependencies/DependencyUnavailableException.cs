namespace Veil.Edge.Dependencies;

/// <summary>Raised when identity or subscriptions cannot answer; the pipeline turns it into a 503.</summary>
internal sealed class DependencyUnavailableException(string service, Exception inner)
    : Exception($"{service} is unavailable.", inner)
{
    public string Service { get; } = service;
}
