using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Identity;
using Veil.Identity.Data;
using Veil.Identity.Security;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Data;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Identity.Grpc;

/// <summary>Accounts, sessions and API keys (veil.identity.v1.IdentityService).</summary>
public sealed partial class IdentityGrpcService : IdentityService.IdentityServiceBase
{
    // One message for every sign-in failure, so the answer never tells whether the email exists.
    internal const string SignInFailedMessage = "The email or password is incorrect.";
    internal const string RefreshFailedMessage = "The refresh token is invalid, expired or already used; sign in again.";

    // ListExpiringApiKeys is an internal bulk list (docs/designs/conventions.md, "Paging").
    private const int DefaultExpiringPageSize = 500;
    private const int MaxExpiringPageSize = 1000;

    private readonly IdentityStore _store;
    private readonly Passwords _passwords;
    private readonly TokenIssuer _tokens;
    private readonly ApiKeyHasher _keyHasher;
    private readonly SigningKeyRotation _rotation;
    private readonly TimeProvider _time;
    private readonly IdentityMetrics _metrics;
    private readonly AuthLimits _limits;
    private readonly IdentityOptions _options;
    private readonly ApiKeyUsageWriter _keyUsage;
    private readonly ApiKeyOptions _keyOptions;
    private readonly ChangeFeed<KeyChange> _keyChanges;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<IdentityGrpcService> _logger;

    internal IdentityGrpcService(IdentityStore store, Passwords passwords, TokenIssuer tokens, ApiKeyHasher keyHasher,
        SigningKeyRotation rotation, TimeProvider time, IdentityMetrics metrics, AuthLimits limits, IdentityOptions options,
        ApiKeyUsageWriter keyUsage, ApiKeyOptions keyOptions, ChangeFeed<KeyChange> keyChanges, IHostApplicationLifetime lifetime,
        ILogger<IdentityGrpcService> logger)
    {
        _keyUsage = keyUsage;
        _keyOptions = keyOptions;
        _store = store;
        _passwords = passwords;
        _tokens = tokens;
        _keyHasher = keyHasher;
        _rotation = rotation;
        _time = time;
        _metrics = metrics;
        _limits = limits;
        _options = options;
        _keyChanges = keyChanges;
        _lifetime = lifetime;
        _logger = logger;
    }

    public override async Task<SignUpResponse> SignUp(SignUpRequest request, ServerCallContext context)
    {
        _limits.ThrottleAddress(context);
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
        // Staff emails (administrator, billing managers) are reserved even before their account exists.
        if (_options.StaffEmails().Contains(email))
        {
            throw RpcErrors.AlreadyExists("An account with this email already exists.");
        }
        _limits.ThrottleAccount(email);

        var hash = await _limits.HashAsync(() => _passwords.Hash(request.Password), context.CancellationToken);
        var now = Now();
        var account = new AccountRecord(
            ResourceIds.New("acc"), email, displayName.Length > 0 ? displayName : email[..email.IndexOf('@')],
            Roles.ToClaim(request.Role), hash, now);
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
        _limits.ThrottleAddress(context);
        var email = InputRules.NormalizeEmail(request.Email);
        // Limits and back-off are keyed by the email whether or not an account has it, so neither
        // tells which emails exist.
        var emailKey = email.Length <= InputRules.MaxEmailLength ? email : email[..InputRules.MaxEmailLength];
        _limits.ThrottleAccount(emailKey);
        var failures = await WaitOutBackoffAsync(emailKey, context.CancellationToken);
        // Over-long input can never match; refusing it early bounds the hashing work per request.
        var account = email.Length is > 0 and <= InputRules.MaxEmailLength && request.Password.Length <= Passwords.MaximumLength
            ? await _store.FindAccountByEmailAsync(email, context.CancellationToken)
            : null;
        var result = await _limits.HashAsync(() => _passwords.Verify(account, request.Password), context.CancellationToken);
        var now = Now();
        if (account is null || result == PasswordVerificationResult.Failed)
        {
            await RecordFailureAsync(emailKey, account?.Id, now, context.CancellationToken);
            IdentityLog.SignInFailed(_logger, account is not null);
            _metrics.SignIn(success: false);
            throw RpcErrors.Unauthenticated(SignInFailedMessage);
        }
        if (failures > 0)
        {
            await _store.ClearSignInFailuresAsync(emailKey, context.CancellationToken);
        }
        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            var rehashed = await _limits.HashAsync(() => _passwords.Hash(request.Password), context.CancellationToken);
            await _store.UpdatePasswordHashAsync(account.Id, rehashed, context.CancellationToken);
            IdentityLog.PasswordRehashed(_logger, account.Id);
        }
        IdentityLog.SignedIn(_logger, account.Id);
        _metrics.SignIn(success: true);
        return new SignInResponse { Account = ToProto(account), Session = await StartSessionAsync(account, now, context.CancellationToken) };
    }

    public override async Task<RefreshSessionResponse> RefreshSession(RefreshSessionRequest request, ServerCallContext context)
    {
        _limits.ThrottleAddress(context);
        if (!TokenIssuer.IsRefreshTokenShaped(request.RefreshToken))
        {
            _metrics.Refresh("invalid");
            throw RpcErrors.Unauthenticated(RefreshFailedMessage);
        }
        var now = Now();
        var next = TokenIssuer.NewRefreshToken();
        var nextExpiresAt = _tokens.RefreshExpiry(now);
        var (outcome, accountId, expiresAt) = await _store.RotateRefreshTokenAsync(
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
        return new RefreshSessionResponse { Session = _tokens.CreateSession(account, next, expiresAt, now) };
    }

    public override async Task<SignOutResponse> SignOut(SignOutRequest request, ServerCallContext context)
    {
        _limits.ThrottleAddress(context);
        // Like token revocation (RFC 7009): the same answer whether the token was live, used, unknown or malformed.
        if (TokenIssuer.IsRefreshTokenShaped(request.RefreshToken) &&
            await _store.RevokeRefreshFamilyAsync(TokenIssuer.HashRefreshToken(request.RefreshToken), Now(), context.CancellationToken) is { } accountId)
        {
            IdentityLog.SignedOut(_logger, accountId);
        }
        return new SignOutResponse();
    }

    public override async Task<SignOutEverywhereResponse> SignOutEverywhere(SignOutEverywhereRequest request, ServerCallContext context)
    {
        var account = await CurrentAccountAsync(context);
        var ended = await _store.RevokeAllSessionsAsync(account.Id, Now(), context.CancellationToken);
        IdentityLog.SignedOutEverywhere(_logger, account.Id, ended);
        return new SignOutEverywhereResponse { EndedSessions = ended };
    }

    public override async Task<ChangePasswordResponse> ChangePassword(ChangePasswordRequest request, ServerCallContext context)
    {
        var account = await CurrentAccountAsync(context);
        _limits.ThrottleAddress(context);
        var violations = new FieldViolations();
        if (request.NewPassword.Length < Passwords.MinimumLength)
        {
            violations.Add("new_password", $"The password must be at least {Passwords.MinimumLength} characters.");
        }
        else if (request.NewPassword.Length > Passwords.MaximumLength)
        {
            violations.Add("new_password", $"The password must be at most {Passwords.MaximumLength} characters.");
        }
        violations.ThrowIfAny();
        // Guessing the current password with a stolen access token meets the sign-in limits and back-off.
        _limits.ThrottleAccount(account.Email);
        var failures = await WaitOutBackoffAsync(account.Email, context.CancellationToken);
        var result = request.CurrentPassword.Length <= Passwords.MaximumLength
            ? await _limits.HashAsync(() => _passwords.Verify(account, request.CurrentPassword), context.CancellationToken)
            : PasswordVerificationResult.Failed;
        var now = Now();
        if (result == PasswordVerificationResult.Failed)
        {
            await RecordFailureAsync(account.Email, account.Id, now, context.CancellationToken);
            throw RpcErrors.InvalidArgument("current_password", "The current password is incorrect.");
        }
        if (failures > 0)
        {
            await _store.ClearSignInFailuresAsync(account.Email, context.CancellationToken);
        }
        var hash = await _limits.HashAsync(() => _passwords.Hash(request.NewPassword), context.CancellationToken);
        await _store.ChangePasswordAsync(account.Id, hash, now, context.CancellationToken);
        IdentityLog.PasswordChanged(_logger, account.Id);
        return new ChangePasswordResponse { Session = await StartSessionAsync(account, now, context.CancellationToken) };
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
            ResourceIds.New("key"), account.Id, name, ApiKeyFormat.DisplayPrefix(key), Roles.ScopesOf(account.Role),
            now, now + lifetime, RevokedAt: null, request.ApiIds.Distinct(StringComparer.Ordinal).ToArray(), request.ReadOnly);
        if (!await _store.TryCreateApiKeyAsync(record, _keyHasher.Hash(key), _options.MaxApiKeysPerAccount, context.CancellationToken))
        {
            throw RpcErrors.FailedPrecondition(
                $"The account already has {_options.MaxApiKeysPerAccount} live API keys, the most allowed (Identity:MaxApiKeysPerAccount); revoke one first.");
        }
        IdentityLog.ApiKeyCreated(_logger, account.Id, record.Id);
        return new CreateApiKeyResponse { ApiKey = ToProto(record), Key = key };
    }

    public override async Task<ListApiKeysResponse> ListApiKeys(ListApiKeysRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireScope(VeilClaims.Scopes.KeysManage);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize);
        var after = PageToken.DecodeNumberAndId(errors, request.PageToken, nameof(ListApiKeys));
        errors.ThrowIfAny();

        var (keys, more) = await _store.ListApiKeysAsync(caller.AccountId, pageSize, after, context.CancellationToken);
        return new ListApiKeysResponse
        {
            ApiKeys = { keys.Select(ToProto) },
            NextPageToken = more
                ? PageToken.Encode(nameof(ListApiKeys),
                    keys[^1].CreatedAt.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), keys[^1].Id)
                : "",
        };
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
                Id = ResourceIds.New("key"),
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
            ExpireTime = UnixMs.ToTimestamp(found.ExpiresAtMs),
            ApiIds = { found.ApiIds.Split(' ', StringSplitOptions.RemoveEmptyEntries) },
            ReadOnly = found.ReadOnly,
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

    public override async Task<ListExpiringApiKeysResponse> ListExpiringApiKeys(ListExpiringApiKeysRequest request, ServerCallContext context)
    {
        // Internal (no HTTP binding): usage's key-expiry notifier calls it on the gRPC port without a
        // token, as the edge calls ValidateApiKey; the mesh admits only usage there. A call that does
        // carry a token comes from a person, and only an administrator may list every account's keys.
        RequireServiceOrAdmin(context);
        var errors = new FieldViolations();
        var pageSize = Paging.PageSize(errors, request.PageSize, DefaultExpiringPageSize, MaxExpiringPageSize);
        var after = WindowBound(errors, request.ExpireAfter, "expire_after");
        var before = WindowBound(errors, request.ExpireBefore, "expire_before");
        if (after is { } a && before is { } b && b <= a)
        {
            errors.Add("expire_before", "Must be later than expire_after.");
        }
        (long, string)? cursor = null;
        // The window is part of the token: a token from another window would skip or repeat keys.
        if (PageToken.Decode(errors, request.PageToken, nameof(ListExpiringApiKeys), 4) is [var tokenAfter, var tokenBefore, var expiresAt, var id])
        {
            if (tokenAfter == Invariant(after) && tokenBefore == Invariant(before) &&
                long.TryParse(expiresAt, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var at))
            {
                cursor = (at, id);
            }
            else
            {
                errors.Add("page_token", "Not a next_page_token from this list with the same expire_after and expire_before; omit it to start from the first page.");
            }
        }
        errors.ThrowIfAny();

        var (keys, more) = await _store.ListExpiringApiKeysAsync(after!.Value, before!.Value, cursor, pageSize, context.CancellationToken);
        return new ListExpiringApiKeysResponse
        {
            ApiKeys =
            {
                keys.Select(k => new ExpiringApiKey
                {
                    KeyId = k.Id,
                    AccountId = k.AccountId,
                    Name = k.Name,
                    Prefix = k.Prefix,
                    ExpireTime = UnixMs.ToTimestamp(k.ExpiresAtMs),
                }),
            },
            NextPageToken = more
                ? PageToken.Encode(nameof(ListExpiringApiKeys), Invariant(after), Invariant(before), Invariant(keys[^1].ExpiresAtMs), keys[^1].Id)
                : "",
        };

        static string Invariant(long? value) => value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary>A required window bound in Unix ms, or a violation on <paramref name="field"/> (then null).</summary>
    private static long? WindowBound(FieldViolations errors, Timestamp? value, string field)
    {
        if (value is null)
        {
            errors.Add(field, "Required.");
            return null;
        }
        return UnixMs.FromRequest(errors, field, value);
    }

    /// <summary>
    /// Lets through calls without a token (services on the gRPC port) and administrators' tokens;
    /// refuses other roles (PermissionDenied) and tokens that do not validate (Unauthenticated),
    /// which are not service calls either.
    /// </summary>
    private static void RequireServiceOrAdmin(ServerCallContext context)
    {
        if (Caller.TryFrom(context) is { } caller)
        {
            caller.RequireRole(VeilClaims.Roles.Admin);
            return;
        }
        if (!string.IsNullOrEmpty(context.RequestHeaders.GetValue("authorization")))
        {
            throw RpcErrors.Unauthenticated();
        }
    }

    // Times are stored as Unix milliseconds: answer with the same precision the database keeps.
    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());

    // The caller learns nothing but "no"; the reason goes to the metric only.
    public override async Task<RotateSigningKeyResponse> RotateSigningKey(RotateSigningKeyRequest request, ServerCallContext context)
    {
        Caller.From(context).RequireRole(VeilClaims.Roles.Admin);
        // The role as stored now, not only as the token says: a demoted or deleted admin cannot rotate.
        var account = await CurrentAccountAsync(context);
        if (account.Role != VeilClaims.Roles.Admin)
        {
            throw RpcErrors.PermissionDenied($"This operation needs the role {VeilClaims.Roles.Admin}; the caller is {account.Role}.");
        }
        var keys = await _rotation.RotateNowAsync(context.CancellationToken);
        var now = _time.GetUtcNow();
        var next = keys.Last();
        var current = keys.LastOrDefault(k => k.ActivatesAt <= now) ?? keys[0];
        await _store.AppendAuditAsync(now, AuditActions.SigningKeyRotationRequested, account.Id, next.Kid,
            $"activates_at={next.ActivatesAt:o}", context.CancellationToken);
        IdentityLog.SigningKeyRotationRequested(_logger, account.Id, next.Kid, next.ActivatesAt);
        return new RotateSigningKeyResponse { NextKey = ToProto(next), CurrentKey = ToProto(current) };
    }

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
        var sessionExpiresAt = _tokens.SessionExpiry(now);
        var refreshExpiresAt = _tokens.RefreshExpiry(now) is var sliding && sliding < sessionExpiresAt ? sliding : sessionExpiresAt;
        await _store.InsertRefreshTokenAsync(TokenIssuer.HashRefreshToken(refreshToken), ResourceIds.New("fam"), account.Id, now, refreshExpiresAt,
            sessionExpiresAt, cancellationToken);
        return _tokens.CreateSession(account, refreshToken, refreshExpiresAt, now);
    }

    /// <summary>Refuses the attempt while the email's back-off runs; returns its failures in a row.</summary>
    private async Task<int> WaitOutBackoffAsync(string emailKey, CancellationToken cancellationToken)
    {
        var (failures, lastFailedAt) = await _store.GetSignInFailuresAsync(emailKey, cancellationToken);
        var wait = _limits.BackoffRemaining(failures, lastFailedAt, Now());
        if (wait > TimeSpan.Zero)
        {
            _metrics.SignInBackedOff();
            throw RpcErrors.ResourceExhausted(
                $"Too many failed sign-ins for this account; retry in {Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))} s.", wait);
        }
        return failures;
    }

    // Back-off state is kept a day after the last failure, far beyond any configured wait.
    private Task<int> RecordFailureAsync(string emailKey, string? accountId, DateTimeOffset now, CancellationToken cancellationToken) =>
        _store.RecordSignInFailureAsync(emailKey, accountId, now, now - TimeSpan.FromDays(1), cancellationToken);

    private static Account ToProto(AccountRecord account) => new()
    {
        Id = account.Id,
        Email = account.Email,
        DisplayName = account.DisplayName,
        Role = Roles.FromClaim(account.Role),
        CreateTime = Timestamp.FromDateTimeOffset(account.CreatedAt),
    };

    private static SigningKey ToProto(SigningKeyRecord key) => new()
    {
        Kid = key.Kid,
        CreateTime = Timestamp.FromDateTimeOffset(key.CreatedAt),
        ActivateTime = Timestamp.FromDateTimeOffset(key.ActivatesAt),
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
