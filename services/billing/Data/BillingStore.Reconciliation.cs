using System.Globalization;
using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Data;

namespace Veil.Billing.Data;

/// <summary>A reconciliation run with its net adjusted amounts per currency.</summary>
public sealed record RunRecord(string Id, int Trigger, string RequestedBy, int Status, long StartedAt, long? FinishedAt, long WindowStart,
    int InvoicesChecked, int DifferencesFound, int AdjustmentsCreated, string Error, IReadOnlyList<(string Currency, long AmountMinor)> Adjusted, long Seq);

// Reconciliation: a finalised invoice compared with its recount, and the record of each run.
public sealed partial class BillingStore
{
    /// <summary>
    /// Compares a finalised invoice with the recount: what it should have billed for the recounted
    /// calls (with its own stored terms) against what it billed plus earlier reconciliation
    /// adjustments of it. Any difference becomes one adjustment; a second run finds none.
    /// </summary>
    private static async Task ReconcileFinalizedAsync(SqliteConnection connection, SqliteTransaction transaction, InvoiceState invoice,
        long recountedCalls, string runId, long now, ApplyResult result, CancellationToken cancellationToken)
    {
        long priorAmount, priorCalls;
        await using (var command = Command(connection, transaction, """
            SELECT coalesce(sum(amount_minor), 0), coalesce(sum(billable_calls_delta), 0)
            FROM adjustments WHERE invoice_id = @invoice AND source = 2;
            """, ("@invoice", invoice.Id)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            priorAmount = reader.GetInt64(0);
            priorCalls = reader.GetInt64(1);
        }

        long difference, callsDelta;
        try
        {
            var expected = Pricing.Price(invoice.Terms, recountedCalls).SubtotalMinor;
            difference = checked(expected - checked(invoice.SubtotalMinor + priorAmount));
            callsDelta = checked(recountedCalls - checked(invoice.BillableCalls + priorCalls));
        }
        catch (OverflowException)
        {
            result.Overflowed.Add((invoice.SubscriptionId, invoice.PeriodStart));
            return;
        }
        if (callsDelta != 0)
        {
            result.Differences++;
        }
        if (difference == 0)
        {
            return;
        }

        var reason = string.Create(CultureInfo.InvariantCulture,
            $"Reconciliation: {recountedCalls} billable calls recounted from the raw events for invoice period starting {DateTimeOffset.FromUnixTimeMilliseconds(invoice.PeriodStart):u}, {checked(invoice.BillableCalls + priorCalls)} billed so far");
        var adjustment = new AdjustmentRecord(ResourceIds.New("adj"), invoice.AccountId, difference, invoice.Currency, reason, 2, invoice.Id, invoice.SubscriptionId, invoice.ApiId,
            runId, SystemActor, now, null, null);
        await ExecuteAsync(connection, transaction, """
            INSERT INTO adjustments (id, account_id, amount_minor, currency, reason, source, invoice_id, subscription_id, api_id, provider_id,
              period_start, billable_calls_delta, reconciliation_run_id, request_id, created_by, created_at)
            SELECT @id, account_id, @amount, currency, @reason, 2, id, subscription_id, api_id, provider_id, period_start, @calls, @run, NULL, @by, @now
            FROM invoices WHERE id = @invoice;
            """, cancellationToken, ("@id", adjustment.Id), ("@amount", difference), ("@reason", reason), ("@calls", callsDelta), ("@run", runId),
            ("@by", SystemActor), ("@now", now), ("@invoice", invoice.Id));
        await AuditAsync(connection, transaction, now, SystemActor, "adjustment.created", invoice.AccountId, invoice.Id, adjustment.Id, invoice.Currency,
            difference, reason, cancellationToken);
        result.Adjustments.Add((adjustment, callsDelta));
    }

    /// <summary>Starts recording a reconciliation run.</summary>
    public async Task StartRunAsync(string runId, int trigger, string requestedBy, long now, long windowStart, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await ExecuteAsync(connection, transaction, """
            INSERT INTO reconciliation_runs (id, trigger_kind, requested_by, status, started_at, window_start) VALUES (@id, @trigger, @by, 1, @now, @window);
            """, cancellationToken, ("@id", runId), ("@trigger", trigger), ("@by", requestedBy), ("@now", now), ("@window", windowStart));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Records how a run ended.</summary>
    public async Task FinishRunAsync(string runId, bool succeeded, long now, int invoicesChecked, int differences, int adjustments, string error,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await ExecuteAsync(connection, transaction, """
            UPDATE reconciliation_runs SET status = @status, finished_at = @now, invoices_checked = @checked, differences_found = @differences,
              adjustments_created = @adjustments, error = @error
            WHERE id = @id;
            """, cancellationToken, ("@id", runId), ("@status", succeeded ? 2 : 3), ("@now", now), ("@checked", invoicesChecked),
            ("@differences", differences), ("@adjustments", adjustments), ("@error", error));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Marks runs left running by a previous process as failed; returns how many.</summary>
    public async Task<int> FailInterruptedRunsAsync(long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var count = await ExecuteAsync(connection, transaction, """
            UPDATE reconciliation_runs SET status = 3, finished_at = @now, error = 'Interrupted: the billing process stopped during the run.'
            WHERE status = 1;
            """, cancellationToken, ("@now", now));
        await transaction.CommitAsync(cancellationToken);
        return count;
    }

    /// <summary>Runs newest first after the keyset cursor, or the one run <paramref name="runId"/>.</summary>
    public async Task<IReadOnlyList<RunRecord>> ListRunsAsync(string? runId, int limit, long? afterSeq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var runs = new List<RunRecord>();
        await using (var command = Command(connection, null, """
            SELECT id, trigger_kind, requested_by, status, started_at, finished_at, window_start, invoices_checked, differences_found,
              adjustments_created, error, rowid
            FROM reconciliation_runs
            WHERE (@id IS NULL OR id = @id) AND (@after IS NULL OR rowid < @after)
            ORDER BY rowid DESC LIMIT @limit;
            """, ("@id", runId), ("@after", afterSeq), ("@limit", limit)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                runs.Add(new RunRecord(reader.GetString(0), reader.GetInt32(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt64(4),
                    reader.IsDBNull(5) ? null : reader.GetInt64(5), reader.GetInt64(6), reader.GetInt32(7), reader.GetInt32(8), reader.GetInt32(9),
                    reader.GetString(10), [], reader.GetInt64(11)));
            }
        }
        if (runs.Count == 0)
        {
            return runs;
        }
        var adjusted = runs.ToDictionary(r => r.Id, _ => new List<(string, long)>());
        var names = runs.Select((_, i) => "@r" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        await using (var command = Command(connection, null, $"""
            SELECT reconciliation_run_id, currency, sum(amount_minor) FROM adjustments
            WHERE reconciliation_run_id IN ({string.Join(", ", names)})
            GROUP BY reconciliation_run_id, currency ORDER BY currency;
            """, runs.Select((r, i) => (names[i], (object?)r.Id)).ToArray()))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                adjusted[reader.GetString(0)].Add((reader.GetString(1), reader.GetInt64(2)));
            }
        }
        return runs.Select(r => r with { Adjusted = adjusted[r.Id] }).ToList();
    }
}
