using System.CommandLine;
using System.Text.Json.Nodes;
using Veil.Cli.Apply;
using Veil.Cli.Http;

namespace Veil.Cli.Commands;

/// <summary><c>veil apply</c> and <c>veil export</c>: the provider's APIs, releases and plans as one veil.yaml.</summary>
public static class ApplyCommands
{
    public static Command Apply(Runner run)
    {
        var file = new Option<FileInfo>("--file", "-f") { Description = "The veil.yaml to apply.", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan of changes and change nothing." };
        var exitCode = new Option<bool>("--exit-code") { Description = "With --dry-run: exit 3 when there is anything to change." };
        var wait = new Option<bool>("--wait") { Description = "After applying, wait until every live edge serves each changed API's new version." };
        var waitTimeout = new Option<TimeSpan>("--wait-timeout")
        {
            Description = "How long --wait waits (default 0:01:00).",
            DefaultValueFactory = _ => TimeSpan.FromMinutes(1),
        };
        var command = new Command("apply", "Make the server match a veil.yaml: create or update each API, release and plan (idempotent).") { file, dryRun, exitCode, wait, waitTimeout };
        command.Validators.Add(result =>
        {
            if (result.GetValue(exitCode) && !result.GetValue(dryRun))
            {
                result.AddError("--exit-code applies only with --dry-run.");
            }
            if (result.GetValue(wait) && result.GetValue(dryRun))
            {
                result.AddError("--wait applies only without --dry-run.");
            }
        });
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var spec = VeilFile.Load(parse.GetValue(file)!.FullName, session.Context.Environment);
            session.Output.Progress($"reading the server's state for {spec.Apis.Count} API(s)…");
            var changes = await Planner.PlanAsync(session.Client, spec, ct);
            var pending = changes.Where(c => c.Action != ChangeAction.NoOp).ToList();
            var dry = parse.GetValue(dryRun);
            // Every API change is first sent as a dry run (validateOnly): the server checks all of
            // them and stores nothing, so a bad field anywhere stops apply before its first change.
            var invalid = new List<(Change Change, VeilApiException Error)>();
            foreach (var change in pending.Where(c => c.Validate is not null))
            {
                session.Output.Progress($"validating {change.Kind} {change.Key}…");
                try
                {
                    await change.Validate!(ct);
                }
                catch (VeilApiException e) when (e.Status is 400 or 409 or 412 or 422)
                {
                    invalid.Add((change, e));
                }
            }
            if (invalid.Count > 0)
            {
                session.Output.Write(null, () => session.Output.Table(["ACTION", "KIND", "OBJECT", "CHANGES"],
                    changes.Select(c => new[] { Verb(c.Action), c.Kind, c.Key, string.Join(", ", c.Fields) })));
                foreach (var (change, error) in invalid)
                {
                    session.Output.Error.Write($"{change.Kind} {change.Key}: ");
                    session.Output.Problem(error);
                }
                session.Output.Error.WriteLine($"The server refused {invalid.Count} change(s); nothing was changed.");
                return ExitCodes.Error;
            }
            if (!dry)
            {
                foreach (var (change, index) in pending.Select((c, i) => (c, i)))
                {
                    session.Output.Progress($"[{index + 1}/{pending.Count}] {Verb(change.Action)} {change.Kind} {change.Key}");
                    try
                    {
                        await change.Execute!(ct);
                    }
                    catch (Exception) when (!ct.IsCancellationRequested)
                    {
                        // Changes run in order and each is whole: say how far apply got, so a rerun
                        // (which plans again from the server's state) is no surprise.
                        session.Output.Error.WriteLine($"apply stopped at change {index + 1} of {pending.Count} ({Verb(change.Action)} {change.Kind} {change.Key}); the {index} before it were made.");
                        throw;
                    }
                }
            }
            var summary = $"{pending.Count(c => c.Action == ChangeAction.Create)} to create, {pending.Count(c => c.Action == ChangeAction.Update)} to update, {changes.Count - pending.Count} unchanged";
            var json = new JsonObject
            {
                ["dryRun"] = dry,
                ["drift"] = pending.Count > 0,
                ["changes"] = new JsonArray(changes.Select(c => (JsonNode)new JsonObject
                {
                    ["kind"] = c.Kind,
                    ["key"] = c.Key,
                    ["action"] = Verb(c.Action),
                    ["fields"] = new JsonArray(c.Fields.Select(f => (JsonNode)f).ToArray()),
                }).ToArray()),
            };
            session.Output.Write(json, () =>
            {
                session.Output.Table(["ACTION", "KIND", "OBJECT", "CHANGES"],
                    changes.Select(c => new[] { Verb(c.Action), c.Kind, c.Key, string.Join(", ", c.Fields) }));
                session.Output.Out.WriteLine(dry ? $"Plan: {summary}." : $"Applied: {summary.Replace("to create", "created", StringComparison.Ordinal).Replace("to update", "updated", StringComparison.Ordinal)}.");
            });
            if (!dry && parse.GetValue(wait))
            {
                var slugs = pending.Where(c => c.Kind == "api").Select(c => c.Key).ToList();
                if (!await WaitServedAsync(session, slugs, parse.GetValue(waitTimeout), ct))
                {
                    return ExitCodes.Error;
                }
            }
            return dry && parse.GetValue(exitCode) && pending.Count > 0 ? ExitCodes.Drift : ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// Polls each API's deployment (GET /v1/apis/{api_id}: deployment.inSync) until every live edge
    /// serves its current version; false, with what each edge serves, when the timeout passes first.
    /// </summary>
    private static async Task<bool> WaitServedAsync(Session session, List<string> slugs, TimeSpan timeout, CancellationToken ct)
    {
        var time = session.Context.Time;
        var deadline = time.GetUtcNow() + timeout;
        foreach (var slug in slugs)
        {
            while (true)
            {
                var answer = await session.Client.GetAsync($"v1/apis/{Http.Paths.Segment(slug)}", ct);
                var deployment = answer["deployment"];
                var version = Output.Text(answer["api"]?["currentVersion"]);
                if (deployment is null)
                {
                    session.Output.Error.WriteLine($"note: {session.Client.Server} does not report what its edges serve; not waiting for {slug}.");
                    break;
                }
                var edges = deployment["edges"] as JsonArray ?? [];
                var served = string.Join(", ", edges.Select(e => $"{Output.Text(e?["edgeId"])} v{Output.Text(e?["servedVersion"] ?? 0)}"));
                if (deployment["inSync"]?.GetValueKind() == System.Text.Json.JsonValueKind.True)
                {
                    session.Output.Error.WriteLine($"{slug} v{version} is served by every live edge ({served}).");
                    break;
                }
                if (time.GetUtcNow() >= deadline)
                {
                    session.Output.Error.WriteLine($"error: {slug} v{version} is not served by every live edge after {timeout}: {(edges.Count == 0 ? "no edge is live" : served)}.");
                    return false;
                }
                session.Output.Progress($"waiting for the edges to serve {slug} v{version} ({(edges.Count == 0 ? "no edge live yet" : served)})…");
                await Task.Delay(TimeSpan.FromMilliseconds(250), time, ct);
            }
        }
        return true;
    }

    public static Command Export(Runner run)
    {
        var output = new Option<FileInfo?>("--out-file", "-o") { Description = "Write here (OpenAPI documents beside it) instead of standard output (documents inline)." };
        var apis = new Option<string[]>("--api") { Description = "Only this API (slug); repeat for several. Default: all of yours." };
        var command = new Command("export", "Write your APIs, releases and plans as a veil.yaml (secrets never included).") { output, apis };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var target = parse.GetValue(output);
            var (document, notes, files) = await Exporter.ExportAsync(session.Client, parse.GetValue(apis) ?? [], target is not null, session.Output.Progress, ct);
            var header = $"veil.yaml exported from {session.Client.Server} — apply with: veil apply -f <this file>";
            if (notes.Count > 0)
            {
                header += "\n\n" + string.Join('\n', notes);
            }
            var yaml = YamlJson.Write(document, header);
            if (target is null)
            {
                session.Output.Out.Write(yaml);
            }
            else
            {
                var directory = target.DirectoryName ?? ".";
                Directory.CreateDirectory(directory);
                foreach (var (name, text) in files)
                {
                    await File.WriteAllTextAsync(Path.Combine(directory, name), text, ct);
                }
                await File.WriteAllTextAsync(target.FullName, yaml, ct);
                session.Output.Error.WriteLine($"Wrote {target.FullName}{(files.Count > 0 ? $" and {files.Count} OpenAPI document(s) beside it" : "")}.");
            }
            foreach (var note in notes)
            {
                session.Output.Error.WriteLine($"note: {note}");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static string Verb(ChangeAction action) => action switch
    {
        ChangeAction.Create => "create",
        ChangeAction.Update => "update",
        _ => "no-op",
    };
}
