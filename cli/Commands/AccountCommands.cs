using System.CommandLine;
using System.Text.Json.Nodes;
using Veil.Cli.Http;

namespace Veil.Cli.Commands;

/// <summary><c>veil usage</c> and <c>veil invoices</c> (docs/usage-and-billing.md, docs/billing.md).</summary>
public static class AccountCommands
{
    public static Command Usage(Runner run)
    {
        var api = new Option<string?>("--api") { Description = "Only this API (id)." };
        var subscription = new Option<string?>("--subscription") { Description = "Only this subscription." };
        var key = new Option<string?>("--key") { Description = "Only this API key (id)." };
        var from = new Option<DateTimeOffset?>("--from") { Description = "Start (RFC 3339; default: one bucket range before --to)." };
        var to = new Option<DateTimeOffset?>("--to") { Description = "End, exclusive (RFC 3339; default now)." };
        var granularity = new Option<string?>("--granularity") { Description = "minute, hour (default) or day." };
        granularity.AcceptOnlyFromAmong("minute", "hour", "day");
        var command = new Command("usage", "Calls counted per time bucket, as your role allows.") { api, subscription, key, from, to, granularity };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var answer = await session.Client.GetAsync("v1/usage" + Paths.Query(
                ("apiId", parse.GetValue(api)),
                ("subscriptionId", parse.GetValue(subscription)),
                ("keyId", parse.GetValue(key)),
                ("startTime", parse.GetValue(from) is { } f ? ApiCommands.Rfc3339(f) : null),
                ("endTime", parse.GetValue(to) is { } t ? ApiCommands.Rfc3339(t) : null),
                ("granularity", parse.GetValue(granularity)?.ToUpperInvariant())), ct);
            session.Output.Write(answer, () =>
            {
                var buckets = answer["buckets"] as JsonArray ?? [];
                session.Output.Table(["START", "CALLS", "BILLABLE", "BYTES IN", "BYTES OUT"], buckets.Append(answer["totals"]).Select((b, i) => new[]
                {
                    i == buckets.Count ? "total" : Output.Time(b?["startTime"]), Output.Text(b?["totalCalls"] ?? 0), Output.Text(b?["billableCalls"] ?? 0),
                    Output.Text(b?["bytesIn"] ?? 0), Output.Text(b?["bytesOut"] ?? 0),
                }));
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command Invoices(Runner run)
    {
        var subscription = new Option<string?>("--subscription") { Description = "Only this subscription's invoices." };
        var account = new Option<string?>("--account") { Description = "Only this account's invoices (staff)." };
        var command = new Command("invoices", "Your invoices (staff: everyone's).") { subscription, account };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var invoices = await Paths.AllAsync(session.Client, "v1/invoices" + Paths.Query(
                ("subscriptionId", parse.GetValue(subscription)), ("accountId", parse.GetValue(account)), ("pageSize", "100")), "invoices", ct);
            session.Output.Write(new JsonObject { ["invoices"] = invoices }, () => session.Output.Table(
                ["NUMBER", "ID", "SUBSCRIPTION", "PERIOD START", "PERIOD END", "TOTAL", "CURRENCY", "STATUS"],
                invoices.Select(i => new[]
                {
                    Output.Text(i?["number"]), Output.Text(i?["id"]), Output.Text(i?["subscriptionId"]), Output.Time(i?["periodStart"]), Output.Time(i?["periodEnd"]),
                    Output.Text(i?["totalMinor"]), Output.Text(i?["currency"]), Output.Enum(i?["status"], "INVOICE_STATUS_"),
                })));
            return ExitCodes.Ok;
        }));
        return command;
    }

}
