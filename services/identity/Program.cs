using Veil.Identity.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddVeilGrpc("Veil Identity API");
builder.AddVeilSqlite("identity", typeof(IdentityGrpcService).Assembly);

var app = builder.Build();

app.UseVeilGrpc();
app.MapDefaultEndpoints();
app.MapGrpcService<IdentityGrpcService>();

app.Run();
