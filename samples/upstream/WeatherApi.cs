namespace Veil.Samples.Upstream;

/// <summary>
/// "Veil Weather", the sample provider API: deterministic forecasts, an echo of what the gateway
/// forwarded (to see Veil's headers arrive and the consumer's key not), and knobs to show errors.
/// </summary>
public static class WeatherApi
{
    private static readonly string[] Summaries = ["Freezing", "Chilly", "Cool", "Mild", "Warm", "Hot"];

    /// <summary>Maps the sample endpoints.</summary>
    public static IEndpointRouteBuilder MapWeatherApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/forecast", (string? city, int? days) =>
        {
            city = string.IsNullOrWhiteSpace(city) ? "Paris" : city.Trim();
            var count = Math.Clamp(days ?? 3, 1, 14);
            // Deterministic per city and day so the quickstart output is reproducible.
            var seed = city.ToUpperInvariant().Aggregate(17, (h, c) => unchecked(h * 31 + c));
            var today = DateOnly.FromDateTime(DateTime.UtcNow);
            var forecast = Enumerable.Range(0, count).Select(i =>
            {
                var temperature = Math.Abs(unchecked(seed + i * 7919)) % 35 - 5;
                return new Forecast(today.AddDays(i), temperature, Summaries[(temperature + 5) * Summaries.Length / 35]);
            });
            return Results.Ok(new { city, forecast });
        });

        // The benchmarks' target: the smallest useful answer, so proxy costs dominate.
        app.MapGet("/ping", () => "pong");

        app.MapMethods("/echo/{**path}", ["GET", "POST", "PUT", "PATCH", "DELETE"], (HttpRequest request) => Results.Ok(new
        {
            method = request.Method,
            path = request.Path.Value,
            query = request.QueryString.Value,
            headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
        }));

        app.MapGet("/slow", async (int? ms, CancellationToken cancellationToken) =>
        {
            var delay = TimeSpan.FromMilliseconds(Math.Clamp(ms ?? 5000, 0, 60_000));
            await Task.Delay(delay, cancellationToken);
            return Results.Ok(new { sleptMs = delay.TotalMilliseconds });
        });

        app.MapGet("/status/{code:int}", (int code) =>
            code is >= 200 and <= 599 ? Results.StatusCode(code) : Results.BadRequest("code must be 200-599"));

        return app;
    }

    private sealed record Forecast(DateOnly Date, int TemperatureC, string Summary);
}
