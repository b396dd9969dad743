namespace Veil.Edge;

/// <summary>The edge's two auth caches.</summary>
internal enum AuthCache
{
    ApiKey = 0,
    Entitlement = 1,
}
