using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Identity;
using Veil.Identity.Data;
using Veil.Identity.Security;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Grpc;

/// <summary>Accounts, sessions and API keys (veil.identity.v1.IdentityService).</summary>
public sealed class IdentityGrpcService : IdentityService.IdentityServiceBase
{
    // One message for every sign-in failure, so the answer never tells whether the email exists.
    internal const string SignInFailedMessage = "The email or password is incorrect.";
    internal const string RefreshFailedMessage = "The refresh token is invalid, expired or already used; sign in again.";
    private const int DefaultKeyLifetimeDays = 90;

    private readonly IdentityStore _store;
    private readonly Passwords _passwords;
    private readonly TokenIssuer _tokens;
    private readonly ApiKeyHasher _keyHasher;
    private readonly TimeProvider _time;
    private readonly IdentityMetrics _metrics;
    private readonly ChangeFeed<KeyChange> _keyChanges;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<IdentityGrpcService> _logger;

    internal IdentityGrpcService(IdentityStore store, Passwords passwords, TokenIssuer tokens, ApiKeyHasher keyHasher,
        TimeProvider time, IdentityMetrics metrics, ChangeFeed<KeyChange> keyChanges, IHostApplicationLifetime lifetime,
        ILogger<IdentityGrpcService> logger)
    {
        _store = store;
        _passwords = passwords;
        _tokens = tokens;
        _keyHasher = keyHasher;
        _time = time;
        _metrics = metrics;
        _keyChanges = keyChanges;
        _lifetime = lifetime;
        _logger = logger;
    }

    public override async Task<SignUpResponse> SignUp(SignUpRequest request, ServerCallContext context)
    {
        var email = InputRules.NormalizeEmail(request.Email);
        var displayName = request.DisplayName.Trim();
        var violations = new FieldViolations();
        if (InputRules.CheckEmail(email) is { } emailError)
        {
            violations.Add("email", emailError);
        }
        if (request.Password.Length < Passwords.MinimumLength)
        {
            violations.Add("password", $"The password must be at least {Passwords.MinimumLength} characters.");
        }
        else if (request.Password.Length > Passwords.MaximumLength)
        {
            violations.Add("password", $"The password must be at most {Passwords.MaximumLength} characters.");
        }
        if (request.Role is not (Role.Consumer or Role.Provider))
        {
            violations.Add("role", "The role must be ROLE_CONSUMER or ROLE_PROVIDER.");
        }
        if (InputRules.CheckName(displayName, required: false) is { } nameError)
        {
            violations.Add("display_name", nameError);
        }
        violations.ThrowIfAny();

        var now = Now();
        var account = new AccountRecord(
            Ids.New("acc"), email, displayName.Length > 0 ? displayName : email[..email.IndexOf('@')],
            Roles.ToClaim(request.Role), _passwords.Hash(request.Password), now);
        if (!await _store.TryCreateAccountAsync(account, AuditActions.SignUp, context.CancellationToken))
        {
            throw RpcErrors.AlreadyExists("An account with this email already exists.");
        }
        IdentityLog.AccountCreated(_logger, account.Id, account.Role);
        _metrics.SignedUp(account.Role);
        return new SignUpResponse { Account = ToProto(account), Session = await StartSessionAsync(account, now, context.CancellationToken) };
    }

    public override async Task<SignInResponse> SignIn(SignInRequest request, ServerCallContext context)
    {
        var email = InputRules.NormalizeEmail(request.Email);
        // Over-long input can never match; refusing it early bounds the hashing work per request.
        var account = email.Length is > 0 and <= InputRules.MaxEmailLength && request.Password.Length <= Passwords.MaximumLength
            ? await _store.FindAccountByEmailAsync(email, context.CancellationToken)
            : null;
        var result = _passwords.Verify(account, request.Password);
        var now = Now();
        if (account is null || result == PasswordVerificationResult.Failed)
        {
            await _store.AppendAuditAsync(now, AuditActions.SignInFailed, account?.Id,
                email.Length <= InputRules.MaxEmailLength ? email : email[..InputRules.MaxEmailLength], null, context.CancellationToken);
            IdentityLog.SignInFailed(_logger, account is not null);
            _metrics.SignIn(success: false);
            throw RpcErrors.Unauthenticated(SignInFailedMessage);
        }
        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            await _store.UpdatePasswordHashAsync(account.Id, _passwords.Hash(request.Password), context.CancellationToken);
            IdentityLog.PasswordRehashed(_logger, account.Id);
        }
        IdentityLog.SignedIn(_logger, account.Id);
        _metrics.SignIn(success: true);
        return new SignInResponse { Account = ToProto(account), Session = await StartSessionAsync(account, now, context.CancellationToken) };
    }

    public override async Task<RefreshSessionResponse> RefreshSession(RefreshSessionRequest request, ServerCallContext context)
    {
        if (!TokenIssuer.IsRefreshTokenShaped(request.RefreshToken))
        {
            _metrics.Refresh("invalid");
            throw RpcErrors.Unauthenticated(RefreshFailedMessage);
        }
        var now = Now();
        var next = TokenIssuer.NewRefreshToken();
        var nextExpiresAt = _tokens.RefreshExpiry(now);
        var (outcome, accountId) = await _store.RotateRefreshTokenAsync(
            TokenIssuer.HashRefreshToken(request.RefreshToken), TokenIssuer.HashRefreshToken(next), now, nextExpiresAt, context.CancellationToken);
        if (outcome == RefreshOutcome.ReuseDetected)
        {
            IdentityLog.RefreshTokenReused(_logger, accountId!);
        }
        var account = outcome == RefreshOutcome.Rotated ? await _store.GetAccountAsync(accountId!, context.CancellationToken) : null;
        if (account is null)
        {
            _metrics.Refresh(outcome == RefreshOutcome.ReuseDetected ? "reuse_detected" : "invalid");
            throw RpcErrors.Unauthenticated(RefreshFailedMessage);
        }
        _metrics.Refresh("rotated");
        return new RefreshSessionResponse { Session = _tokens.CreateSession(account, next, nextExpiresAt, now) };
    }

    public override async Task<GetMeResponse> GetMe(GetMeRequest request, ServerCallContext context)
    {
        var account = await CurrentAccountAsync(context);
        return new GetMeResponse { Account = ToProto(account) };
    }

    public override async Task<CreateApiKeyResponse> CreateApiKey(CreateApiKeyRequest request, ServerCallContext context)
    {
        Caller.From(context).RequireScope(VeilClaims.Scopes.KeysManage);
        var name = request.Name.Trim();
        var violations = new FieldViolations();
        if (InputRules.CheckName(name) is { } nameError)
        {
            violations.Add("name", nameError);
        }
        if (request.ExpiresInDays is < 0 or > DefaultKeyLifetimeDays)
        {
            violations.Add("expires_in_days", $"Must be between 1 and {DefaultKeyLifetimeDays} (0 means {DefaultKeyLifetimeDays}).");
        }
        violations.ThrowIfAny();

        var account = await CurrentAccountAsync(context);
        var now = Now();
        var days = request.ExpiresInDays == 0 ? DefaultKeyLifetimeDays : request.ExpiresInDays;
        var key = ApiKeyFormat.Generate();
        var record = new ApiKeyRecord(
            Ids.New("key"), account.Id, name, ApiKeyFormat.DisplayPrefix(key), Roles.ScopesOf(account.Role),
            now, now.AddDays(days), RevokedAt: null);
        await _store.CreateApiKeyAsync(record, _keyHasher.Hash(key), context.CancellationToken);
        IdentityLog.ApiKeyCreated(_logger, account.Id, record.Id);
        return new CreateApiKeyResponse { ApiKey = ToProto(record), Key = key };
    }

    public override async Task<ListApiKeysResponse> ListApiKeys(ListApiKeysRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireScope(VeilClaims.Scopes.KeysManage);
        var keys = await _store.ListApiKeysAsync(caller.AccountId, context.CancellationToken);
        return new ListApiKeysResponse { ApiKeys = { keys.Select(ToProto) } };
    }

    public override async Task<RevokeApiKeyResponse> RevokeApiKey(RevokeApiKeyRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireScope(VeilClaims.Scopes.KeysManage);
        if (string.IsNullOrWhiteSpace(request.KeyId))
        {
            throw RpcErrors.InvalidArgument("key_id", "A key id is required.");
        }
        // Ownership is part of the query: another account's key is indistinguishable from none.
        var key = await _store.RevokeApiKeyAsync(caller.AccountId, request.KeyId, Now(), context.CancellationToken)
            ?? throw RpcErrors.NotFound($"API key '{request.KeyId}' was not found.");
        // Committed; pushed before answering, so every edge is already dropping the key when the caller hears back.
        _keyChanges.Publish(new KeyChange { KeyId = key.Id, AccountId = key.AccountId, Kind = KeyChangeKind.Revoked });
        IdentityLog.ApiKeyRevoked(_logger, caller.AccountId, key.Id);
        return new RevokeApiKeyResponse { ApiKey = ToProto(key) };
    }

    public override async Task<ValidateApiKeyResponse> ValidateApiKey(ValidateApiKeyRequest request, ServerCallContext context)
    {
        // Malformed keys cost no lookup at all.
        if (!ApiKeyFormat.IsWellFormed(request.Key))
        {
            return Invalid("malformed");
        }
        var found = await _store.FindApiKeyByHashAsync(_keyHasher.Hash(request.Key), context.CancellationToken);
        if (found is null)
        {
            return Invalid("unknown");
        }
        if (found.Revoked)
        {
            return Invalid("revoked");
        }
        if (found.ExpiresAtMs <= Now().ToUnixTimeMilliseconds())
        {
            return Invalid("expired");
        }
        _metrics.KeyValidated("valid");
        return new ValidateApiKeyResponse
        {
            Valid = true,
            KeyId = found.KeyId,
            AccountId = found.AccountId,
            Role = Roles.FromClaim(found.Role),
            Scopes = { found.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries) },
            ExpireTime = Timestamp.FromDateTimeOffset(IdentityStore.FromMs(found.ExpiresAtMs)),
        };
    }

    public override async Task WatchKeyChanges(WatchKeyChangesRequest request, IServerStreamWriter<KeyChanges> responseStream, ServerCallContext context)
    {
        // Internal: no google.api.http binding, so only the gRPC port serves it (mesh policy admits the edge only).
        var edgeId = string.IsNullOrWhiteSpace(request.EdgeId) ? "(unnamed)" : request.EdgeId.Length > 100 ? request.EdgeId[..100] : request.EdgeId;
        IdentityLog.KeyWatcherConnected(_logger, edgeId, _keyChanges.Revision);
        try
        {
            await _keyChanges.ServeAsync((batch, ct) => responseStream.WriteAsync(
                new KeyChanges { Revision = batch.Revision, Resync = batch.Resync, Changes = { batch.Changes } }, ct),
                _lifetime, context.CancellationToken);
        }
        finally
        {
            IdentityLog.KeyWatcherDisconnected(_logger, edgeId);
        }
    }

    // Times are stored as Unix milliseconds: answer with the same precision the database keeps.
    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());

    // The caller learns nothing but "no"; the reason goes to the metric only.
    private ValidateApiKeyResponse Invalid(string reason)
    {
        _metrics.KeyValidated(reason);
        return new ValidateApiKeyResponse { Valid = false };
    }

    private async Task<AccountRecord> CurrentAccountAsync(ServerCallContext context)
    {
        var caller = Caller.From(context);
        // A valid token for an account that no longer exists is as good as no token.
        return await _store.GetAccountAsync(caller.AccountId, context.CancellationToken) ?? throw RpcErrors.Unauthenticated();
    }

    private async Task<Session> StartSessionAsync(AccountRecord account, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var refreshToken = TokenIssuer.NewRefreshToken();
        var refreshExpiresAt = _tokens.RefreshExpiry(now);
        await _store.InsertRefreshTokenAsync(TokenIssuer.HashRefreshToken(refreshToken), Ids.New("fam"), account.Id, now, refreshExpiresAt, cancellationToken);
        return _tokens.CreateSession(account, refreshToken, refreshExpiresAt, now);
    }

    private static Account ToProto(AccountRecord account) => new()
    {
        Id = account.Id,
        Email = account.Email,
        DisplayName = account.DisplayName,
        Role = Roles.FromClaim(account.Role),
        CreateTime = Timestamp.FromDateTimeOffset(account.CreatedAt),
    };

    private static ApiKey ToProto(ApiKeyRecord key) => new()
    {
        Id = key.Id,
        AccountId = key.AccountId,
        Name = key.Name,
        Prefix = key.Prefix,
        Scopes = { key.Scopes },
        CreateTime = Timestamp.FromDateTimeOffset(key.CreatedAt),
        ExpireTime = Timestamp.FromDateTimeOffset(key.ExpiresAt),
        RevokeTime = key.RevokedAt is { } revoked ? Timestamp.FromDateTimeOffset(revoked) : null,
    };
}
