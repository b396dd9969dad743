using System.Reflection;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Veil.ServiceDefaults.Data;

namespace Microsoft.Extensions.Hosting;

/// <summary>The Aspire component pattern for a service's SQLite file.</summary>
public static class VeilSqliteExtensions
{
    /// <summary>
    /// Registers the service's <see cref="SqliteDatabase"/>: settings from <c>Veil:Sqlite:{name}</c>,
    /// the file at <c>{Veil:DataDirectory}/{name}.db</c> (default folder <c>.data</c>), a readiness
    /// check, and the schema scripts embedded in <paramref name="scripts"/> applied at start.
    /// </summary>
    public static TBuilder AddVeilSqlite<TBuilder>(this TBuilder builder, string name, Assembly scripts)
        where TBuilder : IHostApplicationBuilder
    {
        var settings = new SqliteSettings();
        builder.Configuration.GetSection($"Veil:Sqlite:{name}").Bind(settings);

        var connectionString = settings.ConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            var directory = builder.DataDirectory();
            Directory.CreateDirectory(directory);
            connectionString = new SqliteConnectionStringBuilder
            {
                DataSource = Path.Combine(directory, name + ".db"),
                Mode = SqliteOpenMode.ReadWriteCreate,
                Cache = SqliteCacheMode.Private,
                Pooling = true,
                DefaultTimeout = settings.BusyTimeoutSeconds,
            }.ToString();
        }

        builder.Services.AddSingleton(sp =>
        {
            var database = new SqliteDatabase(name, connectionString, settings, sp.GetRequiredService<ILogger<SqliteDatabase>>());
            database.Migrate(scripts);
            return database;
        });
        // Resolve at start so the schema is migrated before the first request, not during it.
        builder.Services.AddHostedService<SqliteStartup>();
        builder.Services.AddHealthChecks().AddCheck<SqliteHealthCheck>($"sqlite-{name}", tags: ["ready"]);
        return builder;
    }

    /// <summary>The service's data folder: <c>Veil:DataDirectory</c>, by default <c>.data</c> under the content root.</summary>
    public static string DataDirectory(this IHostApplicationBuilder builder)
    {
        var directory = builder.Configuration["Veil:DataDirectory"];
        return string.IsNullOrWhiteSpace(directory) ? Path.Combine(builder.Environment.ContentRootPath, ".data") : directory;
    }
}

internal sealed class SqliteStartup : IHostedService
{
    // Taking the database is the work: its factory migrates the schema.
    public SqliteStartup(SqliteDatabase database) => ArgumentNullException.ThrowIfNull(database);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
