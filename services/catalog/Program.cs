using Veil.Catalog;
using Veil.Catalog.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddVeilGrpc("Veil Catalog API");
builder.AddVeilSqlite("catalog", typeof(CatalogGrpcService).Assembly);
builder.AddCatalogServices();

var app = builder.Build();

app.UseVeilGrpc();
app.MapDefaultEndpoints();
app.MapGrpcService<CatalogGrpcService>();

app.Run();
