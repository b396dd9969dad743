using Veil.Edge.Calls;

namespace Veil.Edge.Auth;

/// <summary>
/// Who is behind a valid API key, and what the key may call (null: anything the account may).
/// <paramref name="KeyPrefix"/> is the key's display prefix as identity shows it (usage's call log
/// lists it), taken from the key once per validation rather than once per call.
/// </summary>
internal sealed record ApiKeyIdentity(string KeyId, string AccountId, ApiKeyScope? Scope, string KeyPrefix);
