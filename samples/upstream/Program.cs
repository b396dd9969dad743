using Veil.Samples.Upstream;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddOptions<UpstreamOptions>().BindConfiguration(UpstreamOptions.SectionName);

var app = builder.Build();

app.UseSignedCalls();
app.MapDefaultEndpoints();
app.MapWeatherApi();

app.Run();
