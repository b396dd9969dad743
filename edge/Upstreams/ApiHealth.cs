namespace Veil.Edge.Upstreams;

/// <summary>The body of <c>GET /v1/apis/{api_id}/health</c>: this edge's view (each edge probes on its own).</summary>
internal sealed record ApiHealth(string ApiId, string Edge, ApiHealthCheck? HealthCheck, IReadOnlyList<ApiHealthTarget> Targets);
