namespace Veil.Edge.Pipeline;

/// <summary>
/// Outermost step of the proxy pipeline: when forwarding failed before any response byte was sent
/// (dead upstream 502, timeout 504, no destination 503, unreadable or oversized body 400/413),
/// YARP has set the status and left the body empty; this writes the problem body for that status.
/// </summary>
internal sealed class ForwarderErrorMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);

        if (context.GetForwarderErrorFeature() is null || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        var status = context.Response.StatusCode;
        context.Response.Clear();
        await Problems.WriteAsync(context, Problems.ForStatus(status));
    }
}
