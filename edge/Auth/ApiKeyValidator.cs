using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Edge.Calls;
using Veil.Edge.Dependencies;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Auth;

/// <summary>
/// Asks identity whether an API key is valid, through a 1 s single-flight cache: a warm key costs no
/// network call, a cold key costs one call however many requests carry it. A revoked key is dropped
/// from the cache as soon as identity pushes the revocation (<see cref="KeyChangeWatcher"/>), and
/// within the TTL when that stream is down. Unknown, revoked and expired keys are one answer: invalid.
/// The cache is keyed by the key's SHA-256, so the edge's memory never holds keys beyond a request;
/// a valid answer is also indexed by its key id, which is all a revocation carries.
/// </summary>
internal sealed class ApiKeyValidator
{
    private readonly IdentityService.IdentityServiceClient _identity;
    private readonly EdgeMetrics _metrics;
    private readonly TimeSpan _deadline;
    private readonly DependencyState _state;
    private readonly SingleFlightCache<KeyDigest, ApiKeyCheck> _cache;

    public ApiKeyValidator(IdentityService.IdentityServiceClient identity, EdgeMetrics metrics, IOptions<EdgeOptions> options,
        TimeProvider time, ILogger<ApiKeyValidator> logger)
    {
        _identity = identity;
        _metrics = metrics;
        _deadline = options.Value.AuthCallTimeout;
        _state = new DependencyState("identity", logger);
        _cache = new SingleFlightCache<KeyDigest, ApiKeyCheck>(options.Value.AuthCacheTtl, options.Value.AuthCacheMaxEntries, time,
            hit => metrics.CacheLookup(AuthCache.ApiKey, hit), static check => check.Identity?.KeyId);
    }

    /// <summary>Drops the cached answer for key <paramref name="keyId"/>; true when one was held.</summary>
    public bool Invalidate(string keyId) => _cache.InvalidateTag(keyId);

    /// <summary>Drops every cached answer; returns how many.</summary>
    public int InvalidateAll() => _cache.InvalidateAll();

    /// <summary>
    /// The key's owner and scope; <see cref="ApiKeyCheck.Invalid"/> when the key is malformed (bad
    /// checksum), unknown or revoked; <see cref="ApiKeyCheck.Expired"/> when it expired.
    /// Only keys of the right shape (<see cref="ApiKeyFormat.HasKeyShape"/>) get here. A warm key costs
    /// one hash: its checksum was verified when it entered the cache; a key whose checksum fails
    /// never reaches identity or the cache.
    /// </summary>
    /// <exception cref="DependencyUnavailableException">Identity did not answer in time.</exception>
    public ValueTask<ApiKeyCheck> ValidateAsync(string key, CancellationToken cancellationToken)
    {
        var digest = KeyDigest.Of(key);
        if (_cache.TryGetFresh(digest, out var check))
        {
            return new ValueTask<ApiKeyCheck>(check);
        }
        if (!ApiKeyFormat.HasValidChecksum(key))
        {
            return new ValueTask<ApiKeyCheck>(ApiKeyCheck.Invalid);
        }
        return _cache.GetOrLoadAsync(digest, (this, key), static s => s.Item1.CallIdentityAsync(s.key), cancellationToken);
    }

    private async Task<ApiKeyCheck> CallIdentityAsync(string key)
    {
        try
        {
            // The shared call has its own deadline and no caller's token: one client hanging up
            // must not fail the others waiting on the same answer.
            var response = await _identity.ValidateApiKeyAsync(new ValidateApiKeyRequest { Key = key },
                deadline: DateTime.UtcNow + _deadline).ResponseAsync.ConfigureAwait(false);
            _metrics.AuthCall(_state.Service, ok: true);
            _state.Succeeded();
            if (response.Valid && !string.IsNullOrEmpty(response.AccountId))
            {
                return new ApiKeyCheck(new ApiKeyIdentity(response.KeyId, response.AccountId, ApiKeyScope.From(response),
                    ApiKeyFormat.DisplayPrefix(key)));
            }
            return response.Expired ? ApiKeyCheck.Expired : ApiKeyCheck.Invalid;
        }
        catch (RpcException ex)
        {
            _metrics.AuthCall(_state.Service, ok: false);
            throw _state.Failed(ex);
        }
    }

    /// <summary>SHA-256 of a key as four longs: a cache key with no heap allocation and no secret.</summary>
    internal readonly record struct KeyDigest(ulong A, ulong B, ulong C, ulong D)
    {
        public static KeyDigest Of(string key)
        {
            // Keys of the right shape only: exactly ApiKeyFormat.Length ASCII characters.
            Span<byte> utf8 = stackalloc byte[ApiKeyFormat.Length];
            var written = Encoding.ASCII.GetBytes(key.AsSpan(0, Math.Min(key.Length, ApiKeyFormat.Length)), utf8);
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(utf8[..written], hash);
            return new KeyDigest(
                BinaryPrimitives.ReadUInt64LittleEndian(hash),
                BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(hash[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(hash[24..]));
        }
    }
}
