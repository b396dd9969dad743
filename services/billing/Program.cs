using Veil.Billing;
using Veil.Billing.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddVeilGrpc("Veil Billing API");
builder.AddVeilSqlite("billing", typeof(BillingGrpcService).Assembly);
builder.AddBillingServices();                       // store, invoicing jobs, usage and subscriptions clients, metrics

var app = builder.Build();

app.UseVeilGrpc();
app.MapDefaultEndpoints();
app.MapGrpcService<BillingGrpcService>();

app.Run();
