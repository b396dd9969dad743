namespace Veil.Edge.Calls;

/// <summary>
/// Where routing leaves each API's <see cref="UpstreamPolicy"/> for forwarding, keyed by API id and
/// the policy's <see cref="UpstreamPolicy.Fingerprint"/>, which the API route carries in its metadata. Routing publishes a snapshot's policies
/// before handing its routes to YARP; forwarding reads them once, when YARP builds the route's
/// transforms. The previous snapshot's policies are kept too, so a build that lags one snapshot
/// still finds its own.
/// </summary>
internal sealed class UpstreamPolicies
{
    /// <summary>Route metadata key holding the fingerprint of the policy, on API routes that have one to apply.</summary>
    public const string MetadataKey = "Veil.UpstreamPolicy";

    private readonly Lock _gate = new();
    private IReadOnlyDictionary<(string ApiId, string Fingerprint), UpstreamPolicy> _current = new Dictionary<(string, string), UpstreamPolicy>();
    private IReadOnlyDictionary<(string ApiId, string Fingerprint), UpstreamPolicy> _previous = new Dictionary<(string, string), UpstreamPolicy>();

    /// <summary>Makes <paramref name="policies"/> the current snapshot's.</summary>
    public void Publish(IReadOnlyDictionary<(string ApiId, string Fingerprint), UpstreamPolicy> policies)
    {
        lock (_gate)
        {
            (_previous, _current) = (_current, policies);
        }
    }

    /// <summary>The policy of the API with that fingerprint, or null.</summary>
    public UpstreamPolicy? Find(string apiId, string fingerprint)
    {
        lock (_gate)
        {
            return _current.GetValueOrDefault((apiId, fingerprint)) ?? _previous.GetValueOrDefault((apiId, fingerprint));
        }
    }
}
