using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// The one paging rule of every <c>List*</c> RPC (docs/designs/conventions.md, "Paging"):
/// <c>page_size</c> 0 means <see cref="DefaultPageSize"/>, 1 to <see cref="MaxPageSize"/> is taken
/// as asked, anything else is InvalidArgument on <c>page_size</c>. Internal bulk lists (billing
/// reading usage and subscriptions) may allow a larger maximum, which their proto comment states.
/// </summary>
public static class Paging
{
    /// <summary>Items in a page when the request leaves <c>page_size</c> at 0.</summary>
    public const int DefaultPageSize = 50;

    /// <summary>The largest <c>page_size</c> a public list accepts.</summary>
    public const int MaxPageSize = 100;

    /// <summary>The page size to use, or a violation on <c>page_size</c> (then the result is unused).</summary>
    public static int PageSize(FieldViolations errors, int requested, int defaultSize = DefaultPageSize, int max = MaxPageSize)
    {
        if (requested == 0)
        {
            return defaultSize;
        }
        if (requested < 0 || requested > max)
        {
            errors.Add("page_size", $"Must be 0 (default {defaultSize}) or 1 to {max}.");
            return defaultSize;
        }
        return requested;
    }
}

/// <summary>
/// Page tokens: opaque to callers, the same format in every service. A token is the base64url
/// form of a small versioned JSON payload naming the list it belongs to and the keyset cursor (the
/// sort key values of the last item returned, typically sort key then id), so the next page starts
/// strictly after it and items added or removed meanwhile neither repeat nor shift the page. A
/// token from another list, another version or no token at all is InvalidArgument on
/// <c>page_token</c>.
/// </summary>
public static class PageToken
{
    private const int Version = 1;

    /// <summary>Longest token accepted; real ones are far shorter.</summary>
    private const int MaxLength = 1024;

    /// <summary>The <c>page_token</c> violation for a token that is not this list's.</summary>
    public const string Mismatch = "Not a next_page_token from this list; omit it to start from the first page.";

    /// <summary>The token resuming <paramref name="list"/> after the item whose sort keys are <paramref name="cursor"/>.</summary>
    public static string Encode(string list, params string[] cursor) =>
        Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new Payload(Version, list, cursor), PagingJson.Default.Payload));

    /// <summary>
    /// The cursor in <paramref name="token"/>: null for an empty token (the first page); for a token
    /// that is not one <see cref="Encode"/> made for <paramref name="list"/> with
    /// <paramref name="cursorLength"/> keys, a violation on <c>page_token</c> and null.
    /// </summary>
    public static string[]? Decode(FieldViolations errors, string token, string list, int cursorLength)
    {
        if (token.Length == 0)
        {
            return null;
        }
        var cursor = TryDecode(token, list, cursorLength);
        if (cursor is null)
        {
            errors.Add("page_token", Mismatch);
        }
        return cursor;
    }

    /// <summary>
    /// The cursor of a list ordered by one whole-number key (a row id or sequence), as
    /// <see cref="Encode"/> wrote it with <see cref="CultureInfo.InvariantCulture"/>: null for the
    /// first page, or with a violation on <c>page_token</c>.
    /// </summary>
    public static long? DecodeNumber(FieldViolations errors, string token, string list) =>
        Decode(errors, token, list, 1) is [var key] && Number(errors, key, NumberStyles.None) is { } number ? number : null;

    /// <summary>
    /// The cursor of a list ordered by a signed number (a time in Unix ms) then an id: null for the
    /// first page, or with a violation on <c>page_token</c>.
    /// </summary>
    public static (long Number, string Id)? DecodeNumberAndId(FieldViolations errors, string token, string list) =>
        Decode(errors, token, list, 2) is [var key, var id] && Number(errors, key, NumberStyles.AllowLeadingSign) is { } number ? (number, id) : null;

    /// <summary>A number key of a decoded cursor; null with a violation on <c>page_token</c> when it is not one.</summary>
    public static long? Number(FieldViolations errors, string key, NumberStyles styles)
    {
        if (long.TryParse(key, styles, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }
        errors.Add("page_token", Mismatch);
        return null;
    }

    private static string[]? TryDecode(string token, string list, int cursorLength)
    {
        if (token.Length > MaxLength)
        {
            return null;
        }
        try
        {
            var payload = JsonSerializer.Deserialize(Base64Url.DecodeFromChars(token), PagingJson.Default.Payload);
            return payload is { V: Version, L: var l, C: { } c } && l == list && c.Length == cursorLength && c.All(k => k is not null)
                ? c
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Version, list name, cursor: short property names keep tokens short.</summary>
    internal sealed record Payload(int V, string L, string[] C);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(PageToken.Payload))]
internal sealed partial class PagingJson : System.Text.Json.Serialization.JsonSerializerContext;
