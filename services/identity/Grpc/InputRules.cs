using System.Net.Mail;

namespace Veil.Identity.Grpc;

/// <summary>Input rules shared by the RPCs and the administrator bootstrap.</summary>
internal static class InputRules
{
    public const int MaxEmailLength = 254;
    public const int MaxNameLength = 100;

    /// <summary>Trims and lower-cases an email; sign-in emails are case-insensitive.</summary>
    public static string NormalizeEmail(string email) => email.Trim().ToLowerInvariant();

    /// <summary>Null when <paramref name="email"/> (normalized) is acceptable, else why not.</summary>
    public static string? CheckEmail(string email)
    {
        if (email.Length == 0)
        {
            return "An email is required.";
        }
        if (email.Length > MaxEmailLength)
        {
            return $"The email must be at most {MaxEmailLength} characters.";
        }
        var at = email.IndexOf('@', StringComparison.Ordinal);
        var valid = at > 0 && at == email.LastIndexOf('@') && at <= 64 &&
            email.IndexOf('.', at) > at + 1 && !email.EndsWith('.') &&
            !email.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)) &&
            MailAddress.TryCreate(email, out var parsed) && string.Equals(parsed.Address, email, StringComparison.Ordinal);
        return valid ? null : "The email is not a valid address (name@domain.tld).";
    }

    /// <summary>Null when <paramref name="name"/> is 1 to <paramref name="max"/> characters without control characters.</summary>
    public static string? CheckName(string name, int max = MaxNameLength, bool required = true)
    {
        if (name.Length == 0)
        {
            return required ? "A name is required." : null;
        }
        if (name.Length > max)
        {
            return $"Must be at most {max} characters.";
        }
        return name.Any(char.IsControl) ? "Must not contain control characters." : null;
    }

    public const int MaxKeyApiIds = 100;
    private const int MaxApiIdLength = 64;

    /// <summary>Null when every id in <paramref name="apiIds"/> looks like an API id and there are at most 100; else why not.</summary>
    public static string? CheckApiIds(IReadOnlyCollection<string> apiIds)
    {
        if (apiIds.Count > MaxKeyApiIds)
        {
            return $"A key may name at most {MaxKeyApiIds} APIs.";
        }
        // Ids are stored space-separated: only the characters catalog uses in ids are accepted.
        return apiIds.All(id => id.Length is > 0 and <= MaxApiIdLength && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            ? null
            : $"Each API id must be 1 to {MaxApiIdLength} characters of letters, digits, '_' and '-' (e.g. \"api_…\").";
    }
}
