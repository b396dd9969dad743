using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Veil.Cli.Http;

/// <summary>
/// The edge's public REST API, and nothing else. Sends the stored access token only to the server
/// that issued it, refreshes it with the refresh token shortly before it expires (and once more
/// after a 401), and turns every non-2xx answer into a <see cref="VeilApiException"/>.
/// </summary>
public sealed class VeilClient : IDisposable
{
    // Refresh this long before the access token's expiry, so a request never leaves with a token
    // that expires on the way.
    private static readonly TimeSpan RefreshMargin = TimeSpan.FromSeconds(60);
    private readonly HttpClient _http;
    private readonly CredentialStore _store;
    private readonly TimeProvider _time;
    private Credentials? _credentials;

    public VeilClient(Uri server, CredentialStore store, TimeProvider time)
    {
        Server = server;
        _store = store;
        _time = time;
        _http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("veil-cli", typeof(VeilClient).Assembly.GetName().Version?.ToString(3)));
        var stored = store.Load();
        // Tokens go only to the server that issued them: --server pointing elsewhere is anonymous.
        _credentials = stored is not null && SameServer(stored.Server, server) ? stored : null;
    }

    public Uri Server { get; }

    /// <summary>The stored session for <see cref="Server"/>, if any.</summary>
    public Credentials? Credentials => _credentials;

    /// <summary>A server URL in the form kept in the credentials file (scheme, host, port, path, with a trailing slash).</summary>
    public static Uri Normalize(string server)
    {
        if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"The server '{server}' is not an http(s) URL (e.g. http://localhost:8080).");
        }
        var builder = new UriBuilder(uri) { Query = "", Fragment = "" };
        if (!builder.Path.EndsWith('/'))
        {
            builder.Path += "/";
        }
        return builder.Uri;
    }

    public static bool SameServer(string a, Uri b) =>
        Uri.TryCreate(a, UriKind.Absolute, out var uri) && Uri.Compare(Normalize(uri.ToString()), b,
            UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    public Task<JsonObject> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);

    public Task<JsonObject> PostAsync(string path, JsonNode? body, CancellationToken ct) => SendAsync(HttpMethod.Post, path, body ?? new JsonObject(), ct);

    /// <summary>
    /// Sends one request; <paramref name="ifMatch"/> adds If-Match (optimistic concurrency);
    /// <paramref name="anonymous"/> sends no token (sign-in, refresh, sign-out).
    /// </summary>
    public async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct,
        string? ifMatch = null, bool anonymous = false)
    {
        var refreshed = false;
        if (!anonymous && _credentials is not null && _time.GetUtcNow() >= _credentials.AccessTokenExpireTime - RefreshMargin)
        {
            await RefreshAsync(ct);
            refreshed = true;
        }
        while (true)
        {
            using var request = new HttpRequestMessage(method, path);
            if (body is not null)
            {
                request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            }
            if (ifMatch is not null)
            {
                request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
            }
            if (!anonymous && _credentials is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _credentials.AccessToken);
            }
            using var response = await _http.SendAsync(request, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode == HttpStatusCode.Unauthorized && !anonymous && !refreshed && _credentials is not null)
            {
                // The token may have been revoked or the clocks disagree: one refresh, one retry.
                await RefreshAsync(ct);
                refreshed = true;
                continue;
            }
            if (!response.IsSuccessStatusCode)
            {
                throw new VeilApiException((int)response.StatusCode, method.Method, "/" + path, TryParse(text), text);
            }
            return TryParse(text) ?? [];
        }
    }

    /// <summary>Signs in and stores the new session for <see cref="Server"/>.</summary>
    public async Task<JsonObject> SignInAsync(string email, string password, CancellationToken ct)
    {
        var answer = await SendAsync(HttpMethod.Post, "v1/auth/signin", new JsonObject { ["email"] = email, ["password"] = password }, ct, anonymous: true);
        Store(email, answer["session"]);
        return answer;
    }

    /// <summary>Ends the stored session on the server (its refresh token's whole family).</summary>
    public Task SignOutAsync(CancellationToken ct) => _credentials is null
        ? Task.CompletedTask
        : SendAsync(HttpMethod.Post, "v1/auth/signout", new JsonObject { ["refreshToken"] = _credentials.RefreshToken }, ct, anonymous: true);

    private async Task RefreshAsync(CancellationToken ct)
    {
        var credentials = _credentials!;
        if (_time.GetUtcNow() >= credentials.RefreshTokenExpireTime)
        {
            throw new NotSignedInException($"The session for {Server} has expired: run `veil login`.");
        }
        JsonObject answer;
        try
        {
            answer = await SendAsync(HttpMethod.Post, "v1/auth/refresh", new JsonObject { ["refreshToken"] = credentials.RefreshToken }, ct, anonymous: true);
        }
        catch (VeilApiException e) when (e.Status is 400 or 401 or 404)
        {
            throw new NotSignedInException($"The session for {Server} has ended ({e.Detail ?? e.Title ?? e.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)}): run `veil login`.");
        }
        Store(credentials.Email, answer["session"]);
    }

    private void Store(string email, JsonNode? session)
    {
        if (session is null)
        {
            throw new InvalidOperationException("The server answered without a session.");
        }
        _credentials = new Credentials(
            Server.ToString(),
            email,
            (string)session["accessToken"]!,
            session["accessTokenExpireTime"]!.GetValue<DateTimeOffset>(),
            (string)session["refreshToken"]!,
            session["refreshTokenExpireTime"]!.GetValue<DateTimeOffset>());
        _store.Save(_credentials);
    }

    private static JsonObject? TryParse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}
