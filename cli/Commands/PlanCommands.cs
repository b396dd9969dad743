using System.CommandLine;
using System.Text.Json.Nodes;
using Veil.Cli.Http;

namespace Veil.Cli.Commands;

/// <summary><c>veil plans …</c>: the subscriptions service's plan routes (docs/subscriptions.md).</summary>
public static class PlanCommands
{
    public static Command Build(Runner run)
    {
        var plans = new Command("plans", "Offer plans on an API: list, get, create, update, archive, delete.");
        plans.Subcommands.Add(List(run));
        plans.Subcommands.Add(Get(run));
        plans.Subcommands.Add(Create(run));
        plans.Subcommands.Add(Update(run));
        plans.Subcommands.Add(Action(run, "archive", "Archive the plan: no new subscriptions; current ones keep it."));
        plans.Subcommands.Add(Delete(run));
        return plans;
    }

    private static Argument<string> PlanArgument() => new("plan") { Description = "The plan's id (plan_…)." };

    private static Command List(Runner run)
    {
        var api = new Option<string>("--api") { Description = "The API (id or slug).", Required = true };
        var command = new Command("list", "List an API's plans, oldest first.") { api };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var plans = await Paths.AllAsync(session.Client, "v1/plans" + Paths.Query(("apiId", parse.GetValue(api)), ("pageSize", "100")), "plans", ct);
            session.Output.Write(new JsonObject { ["plans"] = plans }, () => session.Output.Table(
                ["ID", "NAME", "RPS", "BURST", "QUOTA", "PRICE/CALL", "BASE", "CURRENCY", "STATE"],
                plans.Select(p => new[]
                {
                    Output.Text(p?["id"]), Output.Text(p?["name"]), Output.Text(p?["requestsPerSecond"]), Output.Text(p?["burst"]),
                    Output.Text(p?["monthlyQuota"]), Output.Text(p?["pricePerCallMinor"]), Output.Text(p?["basePriceMinor"]),
                    Output.Text(p?["currency"]), p?["state"] is null ? "" : Output.Enum(p["state"], "PLAN_STATE_"),
                })));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Get(Runner run)
    {
        var plan = PlanArgument();
        var command = new Command("get", "Show one plan.") { plan };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var answer = await session.Client.GetAsync($"v1/plans/{Paths.Segment(parse.GetValue(plan)!)}", ct);
            session.Output.Write(answer["plan"], () => PrintPlan(session.Output, answer["plan"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The options of a plan's terms, shared by create and update.</summary>
    private sealed class Terms
    {
        public Option<int?> Rps { get; } = new("--rps") { Description = "Sustained requests per second (1–100000)." };
        public Option<int?> Burst { get; } = new("--burst") { Description = "Burst size (default: the rps)." };
        public Option<long?> Quota { get; } = new("--monthly-quota") { Description = "Calls included per cycle; 0 = unlimited." };
        public Option<long?> Price { get; } = new("--price-per-call") { Description = "Price per call in minor units (cents); 0 = free." };
        public Option<long?> Base { get; } = new("--base-price") { Description = "Fee per cycle in minor units." };
        public Option<long?> Overage { get; } = new("--overage-price") { Description = "Price per call beyond the quota in minor units (0: the price per call)." };
        public Option<bool?> OverageAllowed { get; } = new("--overage-allowed") { Description = "Bill calls beyond the quota instead of refusing them." };
        public Option<string?> Currency { get; } = new("--currency") { Description = "ISO 4217 code (default USD)." };

        public void AddTo(Command command)
        {
            command.Options.Add(Rps);
            command.Options.Add(Burst);
            command.Options.Add(Quota);
            command.Options.Add(Price);
            command.Options.Add(Base);
            command.Options.Add(Overage);
            command.Options.Add(OverageAllowed);
            command.Options.Add(Currency);
        }

        public void Fill(JsonObject body, ParseResult parse)
        {
            Set(body, "requestsPerSecond", parse.GetValue(Rps));
            Set(body, "burst", parse.GetValue(Burst));
            Set(body, "monthlyQuota", parse.GetValue(Quota));
            Set(body, "pricePerCallMinor", parse.GetValue(Price));
            Set(body, "basePriceMinor", parse.GetValue(Base));
            Set(body, "overagePricePerCallMinor", parse.GetValue(Overage));
            if (parse.GetValue(OverageAllowed) is { } allowed)
            {
                body["overageAllowed"] = allowed;
            }
            if (parse.GetValue(Currency) is { } currency)
            {
                body["currency"] = currency;
            }
        }

        private static void Set(JsonObject body, string name, long? value)
        {
            if (value is { } v)
            {
                body[name] = v;
            }
        }
    }

    private static Command Create(Runner run)
    {
        var api = new Option<string>("--api") { Description = "The API (id or slug).", Required = true };
        var name = new Option<string>("--name") { Description = "Plan name, unique per API.", Required = true };
        var terms = new Terms();
        terms.Rps.Required = true;
        var command = new Command("create", "Offer a new plan on an API.") { api, name };
        terms.AddTo(command);
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var body = new JsonObject { ["apiId"] = parse.GetValue(api), ["name"] = parse.GetValue(name) };
            terms.Fill(body, parse);
            var answer = await session.Client.PostAsync("v1/plans", body, ct);
            session.Output.Write(answer["plan"], () => PrintPlan(session.Output, answer["plan"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Update(Runner run)
    {
        var plan = PlanArgument();
        var name = new Option<string?>("--name") { Description = "New plan name." };
        var terms = new Terms();
        var command = new Command("update", "Change a plan's terms: a new plan version; current subscribers keep theirs until their next cycle.") { plan, name };
        terms.AddTo(command);
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(name) is { } n)
            {
                body["name"] = n;
            }
            terms.Fill(body, parse);
            if (body.Count == 0)
            {
                throw new UsageException("Nothing to change: give at least one of --name, --rps, --burst, --monthly-quota, --price-per-call, --base-price, --overage-price, --overage-allowed, --currency.");
            }
            var answer = await UpdateAsync(session.Client, parse.GetValue(plan)!, body, null, ct);
            session.Output.Write(answer["plan"], () => PrintPlan(session.Output, answer["plan"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>PATCH /v1/plans/{id}; a server without plan editing gets a clear answer instead of a bare 404/405.</summary>
    public static Task<JsonObject> UpdateAsync(VeilClient client, string planId, JsonObject body, string? etag, CancellationToken ct)
    {
        var path = $"v1/plans/{Paths.Segment(planId)}";
        return NewRoutes.CallAsync(() => client.SendAsync(HttpMethod.Patch, path, body, ct, ifMatch: etag), client, "PATCH", path,
            "edit plans", "plans are immutable on this server. Create a plan under a new name instead.");
    }

    private static Command Action(Runner run, string verb, string description)
    {
        var plan = PlanArgument();
        var command = new Command(verb, description) { plan };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var path = $"v1/plans/{Paths.Segment(parse.GetValue(plan)!)}:{verb}";
            var answer = await NewRoutes.CallAsync(() => session.Client.PostAsync(path, new JsonObject(), ct), session.Client, "POST", path,
                $"{verb} plans", "this server has no plan lifecycle yet.");
            session.Output.Write(answer["plan"], () => PrintPlan(session.Output, answer["plan"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Delete(Runner run)
    {
        var plan = PlanArgument();
        var command = new Command("delete", "Delete a plan nobody subscribes to (409 while any subscription uses it).") { plan };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var path = $"v1/plans/{Paths.Segment(parse.GetValue(plan)!)}";
            var answer = await NewRoutes.CallAsync(() => session.Client.SendAsync(HttpMethod.Delete, path, null, ct), session.Client, "DELETE", path,
                "delete plans", "this server has no plan lifecycle yet.");
            session.Output.Write(answer, () => session.Output.Out.WriteLine($"Deleted plan {parse.GetValue(plan)}."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void PrintPlan(Output output, JsonNode? plan) => output.Fields(
    [
        ("id", Output.Text(plan?["id"])),
        ("api", Output.Text(plan?["apiId"])),
        ("name", Output.Text(plan?["name"])),
        ("version", Output.Text(plan?["version"])),
        ("state", plan?["state"] is null ? null : Output.Enum(plan["state"], "PLAN_STATE_")),
        ("rps", Output.Text(plan?["requestsPerSecond"])),
        ("burst", Output.Text(plan?["burst"])),
        ("monthly quota", Output.Text(plan?["monthlyQuota"])),
        ("price per call", Output.Text(plan?["pricePerCallMinor"])),
        ("base price", Output.Text(plan?["basePriceMinor"])),
        ("overage price", Output.Text(plan?["overagePricePerCallMinor"])),
        ("overage allowed", Output.Text(plan?["overageAllowed"])),
        ("currency", Output.Text(plan?["currency"])),
    ]);
}
