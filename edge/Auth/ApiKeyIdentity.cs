using Veil.Edge.Calls;

namespace Veil.Edge.Auth;

/// <summary>Who is behind a valid API key, and what the key may call (null: anything the account may).</summary>
internal sealed record ApiKeyIdentity(string KeyId, string AccountId, ApiKeyScope? Scope);
