using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Veil.Catalog.Data;
using Veil.Catalog.Export;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

/// <summary>History export (ExportApiHistory): docs/catalog.md "History export".</summary>
public sealed partial class CatalogGrpcService
{
    private static readonly JsonFormatter ExportJson = new(JsonFormatter.Settings.Default.WithIndentation());

    public override async Task<ExportApiHistoryResponse> ExportApiHistory(ExportApiHistoryRequest request, ServerCallContext context)
    {
        var caller = ProviderOrAdmin(context, request.ApiId);
        var errors = new FieldViolations();
        RequireApiId(errors, request.ApiId);
        errors.ThrowIfAny();

        var owner = caller.IsAdmin ? null : caller.AccountId;
        // Version 1 always exists: this finds the API (and checks ownership) in one read.
        var first = await _store.GetVersionAsync(request.ApiId, owner, 1, context.CancellationToken) ?? throw ApiNotFound(request.ApiId);
        var export = Service<HistoryExport>(context);
        var (prefix, versionsWritten, written) = await ExportHistoryAsync(first.Api, owner, export, Service<ExportLedger>(context), context.CancellationToken);

        Activity.Current?.SetTag("veil.api_id", first.Api.Id);
        CatalogLog.HistoryExported(_logger, first.Api.Id, export.Bucket, first.Api.CurrentVersion, written, caller.AccountId);
        return new ExportApiHistoryResponse { Bucket = export.Bucket, Prefix = prefix, VersionsWritten = versionsWritten, CurrentVersion = first.Api.CurrentVersion };
    }

    /// <summary>
    /// Writes the history of <paramref name="api"/> up to its current version (what the RPC and
    /// the automatic export share) and records it in the ledger. Returns the prefix, the version
    /// objects written and all objects written.
    /// </summary>
    internal async Task<(string Prefix, int VersionsWritten, int Written)> ExportHistoryAsync(ApiRecord api, string? owner, HistoryExport export, ExportLedger ledger,
        CancellationToken cancellationToken)
    {
        var prefix = $"apis/{api.Id}/";
        var written = await export.WriteAsync(prefix, Objects(prefix, api.Id, owner, api.CurrentVersion, cancellationToken), cancellationToken);
        await ledger.MarkAsync(api.Id, api.CurrentVersion, cancellationToken);
        return (prefix, written.Count(k => k.EndsWith("/config.json", StringComparison.Ordinal)), written.Count);
    }

    /// <summary>
    /// Each version as GetApiVersion shows it (secrets masked: write-only values never leave the
    /// catalog), oldest first, then <c>current</c> — last, so it never names a version not yet written.
    /// </summary>
    private async IAsyncEnumerable<HistoryExport.ExportObject> Objects(string prefix, string apiId, string? owner, long current,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var n = 1L; n <= current; n++)
        {
            var version = await _store.GetVersionAsync(apiId, owner, n, cancellationToken)
                ?? throw RpcErrors.NotFound($"API '{apiId}' has no version {n} you can see.");
            var json = ExportJson.Format(ExportView(ToProto(version.Api, version.Version))) + "\n";
            yield return new(prefix + $"v{n.ToString(CultureInfo.InvariantCulture)}/config.json", Encoding.UTF8.GetBytes(json), "application/json");
        }
        yield return new(prefix + "current", Encoding.ASCII.GetBytes(current.ToString(CultureInfo.InvariantCulture)), "text/plain");
    }

    /// <summary>
    /// A version as configuration only: the API's live lifecycle (state, deprecation, sunset) is
    /// not part of any version, so it stays out and an export's bytes change only with the version.
    /// </summary>
    private static ApiVersion ExportView(ApiVersion version)
    {
        version.Api.State = ApiState.Unspecified;
        version.Api.DeprecateTime = null;
        version.Api.SunsetTime = null;
        version.Api.DeprecationLink = "";
        return version;
    }
}
