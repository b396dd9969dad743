using Veil.Subscriptions;
using Veil.Subscriptions.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddVeilGrpc("Veil Subscriptions API");
builder.AddVeilSqlite("subscriptions", typeof(SubscriptionsGrpcService).Assembly);
builder.AddSubscriptionsServices();                 // store, catalog client, metrics

var app = builder.Build();

app.UseVeilGrpc();
app.MapDefaultEndpoints();
app.MapGrpcService<SubscriptionsGrpcService>();

app.Run();
