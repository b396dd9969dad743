using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Data;
using Veil.ServiceDefaults.Security;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>How long first answers to <c>Idempotency-Key</c> requests are kept, bound from <c>Veil:Idempotency</c>.</summary>
public sealed class IdempotencyOptions
{
    public const string SectionName = "Veil:Idempotency";

    /// <summary>How long after the first request a retry with the same key gets the first answer (default 24 h).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How long a request counts as in flight (a duplicate meanwhile gets 409). After it, a retry
    /// runs again: the first attempt died without an answer (default 1 min).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan InFlightTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often expired answers are deleted (default 1 h).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// <c>Idempotency-Key</c> for every POST that creates or changes something (docs/architecture.md,
/// "Idempotent requests"). An authenticated caller's request carrying the header runs once: its
/// answer is kept for <see cref="IdempotencyOptions.Retention"/> and a retry with the same key
/// and the same request gets that answer again (header <c>Idempotent-Replayed: true</c>); the same
/// key with another request is refused (<see cref="RpcErrors.IdempotencyKeyReused"/>, REST 422);
/// a retry while the first is still running gets <c>Aborted</c> (409). Only successes are kept:
/// a failed request changed nothing, so its retry simply runs again.
/// Applies to REST POSTs (JSON transcoding) and to any unary gRPC call carrying the
/// <c>idempotency-key</c> metadata; anonymous calls (sign-up, sign-in) ignore it, since a stored
/// answer is only ever returned to the caller who caused it.
/// </summary>
internal sealed class IdempotencyInterceptor(IServiceProvider services) : Interceptor
{
    public const string Header = "idempotency-key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    private const int MaxKeyLength = 255;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var key = context.RequestHeaders.GetValue(Header);
        var http = context.GetHttpContext();
        if (key is null || request is not IMessage message || !Applies(http) ||
            Caller.TryFrom(http.User) is not { } caller || Store() is not { } store)
        {
            return CreatedResources.Answer(http, await continuation(request, context), services);
        }
        if (key.Length is 0 or > MaxKeyLength || key.Any(c => c is < '!' or > '~'))
        {
            throw RpcErrors.InvalidArgument("Idempotency-Key",
                $"Must be 1 to {MaxKeyLength} visible ASCII characters; a random UUID is best.");
        }

        var entry = IdempotencyEntry.For(caller.AccountId, context.Method, key, message);
        var begun = await store.BeginAsync(entry, context.CancellationToken);
        switch (begun.Outcome)
        {
            case IdempotencyOutcome.Replay:
                var replay = Activator.CreateInstance<TResponse>();
                ((IMessage)replay).MergeFrom(entry.Open(begun.Answer!, store.Protection));
                http.Response.Headers[ReplayedHeader] = "true";
                IdempotencyLog.Replayed(store.Logger, context.Method, caller.AccountId);
                return CreatedResources.Answer(http, replay, services);
            case IdempotencyOutcome.Mismatch:
                throw RpcErrors.IdempotencyKeyReused(
                    $"Idempotency-Key '{key}' was used with a different request. Use a new key for a new request; reuse a key only to retry the very same request.");
            case IdempotencyOutcome.InFlight:
                throw RpcErrors.Aborted(
                    $"A request with Idempotency-Key '{key}' is still in progress. Retry once it has answered.");
        }

        TResponse response;
        try
        {
            response = await continuation(request, context);
        }
        catch
        {
            // Nothing was created: forget the key so a retry runs again.
            await store.AbandonAsync(entry, CancellationToken.None);
            throw;
        }
        await store.CompleteAsync(entry, entry.Seal(((IMessage)response).ToByteArray(), store.Protection), CancellationToken.None);
        return CreatedResources.Answer(http, response, services);
    }

    /// <summary>The store, or null in a service without a database (ratelimit), which keeps no answers.</summary>
    private IdempotencyStore? Store() =>
        services.GetService<SqliteDatabase>() is null ? null : services.GetRequiredService<IdempotencyStore>();

    /// <summary>REST: POSTs only (reads and PATCHes are idempotent already). gRPC: the caller asked.</summary>
    private static bool Applies(HttpContext http) =>
        http.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true ||
        HttpMethods.IsPost(http.Request.Method);
}

internal enum IdempotencyOutcome
{
    Proceed,
    Replay,
    Mismatch,
    InFlight,
}

internal readonly record struct IdempotencyBegin(IdempotencyOutcome Outcome, byte[]? Answer = null);

/// <summary>
/// One idempotent request: the row's lookup id (SHA-256 of caller, method and key; the key itself
/// is never stored), the request's hash, and the key that seals its answer. The answer is sealed
/// with AES-256-GCM under a key derived (HKDF) from the Idempotency-Key, so the stored row opens
/// only for a caller who presents that key again; where the service has a KEK it is sealed under
/// it as well (<see cref="SecretProtection"/>).
/// </summary>
internal sealed class IdempotencyEntry
{
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private const string Purpose = "idempotency";
    private readonly byte[] _answerKey;

    private IdempotencyEntry(byte[] lookup, byte[] requestHash, byte[] answerKey)
    {
        Lookup = lookup;
        RequestHash = requestHash;
        _answerKey = answerKey;
    }

    public byte[] Lookup { get; }

    public byte[] RequestHash { get; }

    public static IdempotencyEntry For(string caller, string method, string key, IMessage request)
    {
        var scope = Encoding.UTF8.GetBytes($"{caller}\n{method}\n");
        var keyBytes = Encoding.UTF8.GetBytes(key);
        var lookup = SHA256.HashData([.. "veil-idempotency-lookup\n"u8, .. scope, .. keyBytes]);
        var answerKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, keyBytes, 32, salt: scope, info: "veil-idempotency-answer"u8.ToArray());
        return new IdempotencyEntry(lookup, SHA256.HashData(request.ToByteArray()), answerKey);
    }

    public byte[] Seal(byte[] answer, SecretProtection? protection)
    {
        var output = new byte[NonceBytes + TagBytes + answer.Length];
        RandomNumberGenerator.Fill(output.AsSpan(0, NonceBytes));
        using (var aes = new AesGcm(_answerKey, TagBytes))
        {
            aes.Encrypt(output.AsSpan(0, NonceBytes), answer, output.AsSpan(NonceBytes + TagBytes), output.AsSpan(NonceBytes, TagBytes), Lookup);
        }
        return protection?.Protect(output, Purpose) ?? output;
    }

    public byte[] Open(byte[] stored, SecretProtection? protection)
    {
        var inner = protection is not null && SecretProtection.IsProtected(stored) ? protection.Unprotect(stored, Purpose) : stored;
        var answer = new byte[inner.Length - NonceBytes - TagBytes];
        using var aes = new AesGcm(_answerKey, TagBytes);
        aes.Decrypt(inner.AsSpan(0, NonceBytes), inner.AsSpan(NonceBytes + TagBytes), inner.AsSpan(NonceBytes, TagBytes), answer, Lookup);
        return answer;
    }
}

/// <summary>
/// The answers kept for <see cref="IdempotencyInterceptor"/>, in the service's own SQLite file.
/// The table belongs to this shared mechanism, not to any service's schema scripts: it is created
/// here (<c>CREATE TABLE IF NOT EXISTS</c>) so every service gets the same one without a numbered
/// script of its own. Its rows live a day at most, so a future shape takes a new table name
/// instead of a data migration.
/// </summary>
internal sealed class IdempotencyStore
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS veil_idempotency_v1 (
            lookup BLOB PRIMARY KEY,
            request_hash BLOB NOT NULL,
            answer BLOB,
            locked_until INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS veil_idempotency_v1_expiry ON veil_idempotency_v1 (expires_at);
        """;

    private readonly SqliteDatabase _database;
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<IdempotencyOptions> _options;
    private readonly Lazy<Task> _schema;

    public IdempotencyStore(SqliteDatabase database, TimeProvider time, IOptionsMonitor<IdempotencyOptions> options,
        ILogger<IdempotencyStore> logger, IServiceProvider services)
    {
        _database = database;
        _time = time;
        _options = options;
        Logger = logger;
        Protection = services.GetService<SecretProtection>();
        _schema = new Lazy<Task>(() => ExecuteAsync(Schema, CancellationToken.None));
    }

    public ILogger Logger { get; }

    public SecretProtection? Protection { get; }

    public async Task<IdempotencyBegin> BeginAsync(IdempotencyEntry entry, CancellationToken cancellationToken)
    {
        await _schema.Value;
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var options = _options.CurrentValue;
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using (var read = connection.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = "SELECT request_hash, answer, locked_until FROM veil_idempotency_v1 WHERE lookup = @lookup AND expires_at > @now;";
            read.Parameters.AddWithValue("@lookup", entry.Lookup);
            read.Parameters.AddWithValue("@now", now);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                var hash = (byte[])reader.GetValue(0);
                if (!CryptographicOperations.FixedTimeEquals(hash, entry.RequestHash))
                {
                    return new(IdempotencyOutcome.Mismatch);
                }
                if (!reader.IsDBNull(1))
                {
                    return new(IdempotencyOutcome.Replay, (byte[])reader.GetValue(1));
                }
                if (reader.GetInt64(2) > now)
                {
                    return new(IdempotencyOutcome.InFlight);
                }
                // In flight no longer: the first attempt died without an answer. This one takes over.
            }
        }
        await using var claim = connection.CreateCommand();
        claim.Transaction = transaction;
        claim.CommandText = """
            INSERT INTO veil_idempotency_v1 (lookup, request_hash, answer, locked_until, expires_at)
            VALUES (@lookup, @hash, NULL, @locked_until, @expires_at)
            ON CONFLICT (lookup) DO UPDATE SET request_hash = excluded.request_hash, answer = NULL,
                locked_until = excluded.locked_until, expires_at = excluded.expires_at;
            """;
        claim.Parameters.AddWithValue("@lookup", entry.Lookup);
        claim.Parameters.AddWithValue("@hash", entry.RequestHash);
        claim.Parameters.AddWithValue("@locked_until", now + (long)options.InFlightTimeout.TotalMilliseconds);
        claim.Parameters.AddWithValue("@expires_at", now + (long)options.Retention.TotalMilliseconds);
        await claim.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new(IdempotencyOutcome.Proceed);
    }

    public Task CompleteAsync(IdempotencyEntry entry, byte[] answer, CancellationToken cancellationToken) =>
        ExecuteAsync("UPDATE veil_idempotency_v1 SET answer = @answer WHERE lookup = @lookup;", cancellationToken,
            ("@lookup", entry.Lookup), ("@answer", answer));

    public Task AbandonAsync(IdempotencyEntry entry, CancellationToken cancellationToken) =>
        ExecuteAsync("DELETE FROM veil_idempotency_v1 WHERE lookup = @lookup AND answer IS NULL;", cancellationToken,
            ("@lookup", entry.Lookup));

    /// <summary>Deletes the answers past their retention; returns how many.</summary>
    public async Task<int> DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        await _schema.Value;
        return await ExecuteAsync("DELETE FROM veil_idempotency_v1 WHERE expires_at <= @now;", cancellationToken,
            ("@now", _time.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    private async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>Deletes expired idempotency answers every <see cref="IdempotencyOptions.CleanupInterval"/>, on the service's clock.</summary>
internal sealed class IdempotencyCleanup(IServiceProvider services, TimeProvider time, IOptionsMonitor<IdempotencyOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<SqliteDatabase>() is null)
        {
            return; // A service without a database (ratelimit) keeps no answers.
        }
        var store = services.GetRequiredService<IdempotencyStore>();
        using var timer = new PeriodicTimer(options.CurrentValue.CleanupInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var deleted = await store.DeleteExpiredAsync(stoppingToken);
                if (deleted > 0)
                {
                    IdempotencyLog.Expired(store.Logger, deleted);
                }
            }
            catch (SqliteException ex)
            {
                IdempotencyLog.CleanupFailed(store.Logger, ex);
            }
        }
    }
}

internal static partial class IdempotencyLog
{
    [LoggerMessage(EventId = 8000, Level = LogLevel.Information, Message = "Idempotent replay of {Method} for {AccountId}")]
    public static partial void Replayed(ILogger logger, string method, string accountId);

    [LoggerMessage(EventId = 8001, Level = LogLevel.Debug, Message = "Deleted {Count} expired idempotency answers")]
    public static partial void Expired(ILogger logger, int count);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Warning, Message = "Deleting expired idempotency answers failed; the next run retries")]
    public static partial void CleanupFailed(ILogger logger, Exception exception);
}
