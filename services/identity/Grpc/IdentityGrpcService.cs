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

    private readonly IdentityStore _store;
    private readonly Passwords _passwords;
    private readonly TokenIssuer _tokens;
    private readonly ApiKeyHasher _keyHasher;
    private readonly TimeProvider _time;
    private readonly IdentityMetrics _metrics;
    private readonly ApiKeyUsageWriter _keyUsage;
    private readonly ApiKeyOptions _keyOptions;
    private readonly ILogger<IdentityGrpcService> _logger;

    internal IdentityGrpcService(IdentityStore store, Passwords passwords, TokenIssuer tokens, ApiKeyHasher keyHasher,
        TimeProvider time, IdentityMetrics metrics, ApiKeyUsageWriter keyUsage, ApiKeyOptions keyOptions, ILogger<IdentityGrpcService> logger)
    {
        _keyUsage = keyUsage;
        _keyOptions = keyOptions;
        _store = store;
        _passwords = passwords;
        _tokens = tokens;
        _keyHasher = keyHasher;
        _time = time;
        _metrics = metrics;
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
        var maxDays = _keyOptions.MaxLifetimeDays;
        if (request.ExpiresInDays < 0 || request.ExpiresInDays > maxDays)
        {
            violations.Add("expires_in_days", $"Must be between 1 and {maxDays} (0 means the default, {_keyOptions.DefaultLifetime.TotalDays:0.##} days).");
        }
        if (InputRules.CheckApiIds(request.ApiIds) is { } apiIdsError)
        {
            violations.Add("api_ids", apiIdsError);
        }
        violations.ThrowIfAny();

        var account = await CurrentAccountAsync(context);
        var now = Now();
        var lifetime = request.ExpiresInDays == 0 ? _keyOptions.DefaultLifetime : TimeSpan.FromDays(request.ExpiresInDays);
        var key = ApiKeyFormat.Generate();
        var record = new ApiKeyRecord(
            Ids.New("key"), account.Id, name, ApiKeyFormat.DisplayPrefix(key), Roles.ScopesOf(account.Role),
            now, now + lifetime, RevokedAt: null, request.ApiIds.Distinct(StringComparer.Ordinal).ToArray(), request.ReadOnly);
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
        IdentityLog.ApiKeyRevoked(_logger, caller.AccountId, key.Id);
        return new RevokeApiKeyResponse { ApiKey = ToProto(key) };
    }

    public override async Task<RotateApiKeyResponse> RotateApiKey(RotateApiKeyRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireScope(VeilClaims.Scopes.KeysManage);
        if (string.IsNullOrWhiteSpace(request.KeyId))
        {
            throw RpcErrors.InvalidArgument("key_id", "A key id is required.");
        }
        var overlap = _keyOptions.RotationOverlap;
        if (request.Overlap is { } requested)
        {
            // Bounded on the raw fields first: ToTimeSpan throws beyond TimeSpan's range.
            var inRange = requested.Seconds >= 0 && requested.Nanos >= 0 &&
                requested.Seconds <= (long)_keyOptions.MaxRotationOverlap.TotalSeconds;
            if (!inRange || requested.ToTimeSpan() > _keyOptions.MaxRotationOverlap)
            {
                throw RpcErrors.InvalidArgument("overlap",
                    $"Must be between 0s and {(long)_keyOptions.MaxRotationOverlap.TotalSeconds}s (unset means {(long)_keyOptions.RotationOverlap.TotalSeconds}s).");
            }
            overlap = requested.ToTimeSpan();
        }

        var now = Now();
        var secret = ApiKeyFormat.Generate();
        var (outcome, old, next) = await _store.RotateApiKeyAsync(caller.AccountId, request.KeyId, now, now + overlap,
            old => old with
            {
                Id = Ids.New("key"),
                Prefix = ApiKeyFormat.DisplayPrefix(secret),
                CreatedAt = now,
                // The successor lives as long as its predecessor was meant to, within today's bound.
                ExpiresAt = now + TimeSpan.FromTicks(Math.Min((old.ExpiresAt - old.CreatedAt).Ticks, _keyOptions.MaxLifetime.Ticks)),
                RevokedAt = null,
                RotatedFrom = old.Id,
                LastUsedAt = null,
            },
            _keyHasher.Hash(secret), context.CancellationToken);
        switch (outcome)
        {
            case RotateOutcome.NotFound:
                throw RpcErrors.NotFound($"API key '{request.KeyId}' was not found.");
            case RotateOutcome.Revoked:
                throw RpcErrors.FailedPrecondition($"API key '{request.KeyId}' is revoked; create a new key instead.");
            case RotateOutcome.Expired:
                throw RpcErrors.FailedPrecondition($"API key '{request.KeyId}' has expired; create a new key instead.");
            case RotateOutcome.AlreadyRotated:
                throw RpcErrors.FailedPrecondition($"API key '{request.KeyId}' was already rotated; rotate its successor instead.");
        }
        IdentityLog.ApiKeyRotated(_logger, caller.AccountId, old!.Id, next!.Id, old.ExpiresAt);
        return new RotateApiKeyResponse { ApiKey = ToProto(next), Key = secret, PreviousApiKey = ToProto(old) };
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
        var now = Now().ToUnixTimeMilliseconds();
        if (found.ExpiresAtMs <= now)
        {
            // Only a caller holding the key itself learns that it existed: the edge can say "expired".
            _metrics.KeyValidated("expired");
            return new ValidateApiKeyResponse { Valid = false, Expired = true };
        }
        // Coarse last-used: at most one write per key and period, by a background writer.
        var period = (long)_keyOptions.LastUsedPrecision.TotalMilliseconds;
        var periodStart = now - (now % period);
        if (found.LastUsedAtMs is not { } lastUsed || lastUsed < periodStart)
        {
            _keyUsage.Record(found.KeyId, periodStart);
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
            ApiIds = { found.ApiIds.Split(' ', StringSplitOptions.RemoveEmptyEntries) },
            ReadOnly = found.ReadOnly,
        };
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
        ApiIds = { key.ApiIds },
        ReadOnly = key.ReadOnly,
        RotatedFrom = key.RotatedFrom ?? "",
        LastUsedTime = key.LastUsedAt is { } used ? Timestamp.FromDateTimeOffset(used) : null,
    };
}
