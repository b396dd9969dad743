namespace Veil.Edge.Calls;

/// <summary>
/// Gives every request an id: the client's <c>X-Request-Id</c> when it is a sane token (1–128 of
/// <c>[A-Za-z0-9._-]</c>), else a new one. It becomes <see cref="HttpContext.TraceIdentifier"/> (so
/// logs carry it), is sent upstream by the transforms and is returned on every response.
/// </summary>
internal sealed class RequestIdMiddleware(RequestDelegate next)
{
    public const string HeaderName = "X-Request-Id";
    private const int MaxLength = 128;

    public Task InvokeAsync(HttpContext context)
    {
        var incoming = context.Request.Headers[HeaderName];
        context.TraceIdentifier = incoming.Count == 1 && IsSane(incoming[0]) ? incoming[0]! : Ids.NewRequestId();
        // Set when the response starts, after the proxy has copied the upstream's headers: the
        // client always sees the edge's id, once.
        context.Response.OnStarting(static state =>
        {
            var ctx = (HttpContext)state;
            ctx.Response.Headers[HeaderName] = ctx.TraceIdentifier;
            return Task.CompletedTask;
        }, context);
        return next(context);
    }

    internal static bool IsSane(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return false;
            }
        }
        return true;
    }
}
