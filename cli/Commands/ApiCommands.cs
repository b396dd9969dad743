using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Veil.Cli.Http;

namespace Veil.Cli.Commands;

/// <summary><c>veil apis …</c>: the catalog's API routes (docs/catalog.md).</summary>
public static class ApiCommands
{
    public static Command Build(Runner run)
    {
        var apis = new Command("apis", "Publish and manage APIs: list, get, create, import, history, diff, rollback, suspend, resume, deprecate, delete.");
        apis.Subcommands.Add(List(run));
        apis.Subcommands.Add(Get(run));
        apis.Subcommands.Add(Create(run));
        apis.Subcommands.Add(Import(run));
        apis.Subcommands.Add(History(run));
        apis.Subcommands.Add(Diff(run));
        apis.Subcommands.Add(Rollback(run));
        apis.Subcommands.Add(Lifecycle(run, "suspend", "Suspend the API: calls get 503 until it is resumed; subscriptions stay."));
        apis.Subcommands.Add(Lifecycle(run, "resume", "Resume a suspended API."));
        apis.Subcommands.Add(Deprecate(run));
        apis.Subcommands.Add(Delete(run));
        return apis;
    }

    /// <summary>The API argument every per-API command takes: an id (api_…) or a slug.</summary>
    public static Argument<string> ApiArgument() => new("api") { Description = "The API's id (api_…) or slug." };

    private static Command List(Runner run)
    {
        var query = new Option<string?>("--query") { Description = "Only APIs whose slug, name or description contain this." };
        var mine = new Option<bool>("--mine") { Description = "Only the signed-in provider's APIs." };
        var command = new Command("list", "List APIs (every page).") { query, mine };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            string? providerId = null;
            if (parse.GetValue(mine))
            {
                providerId = Output.Text((await session.Client.GetAsync("v1/accounts/me", ct))["account"]?["id"]);
            }
            var list = await Paths.AllAsync(session.Client, "v1/apis" + Paths.Query(("query", parse.GetValue(query)), ("providerId", providerId), ("pageSize", "100")), "apis", ct);
            session.Output.Write(new JsonObject { ["apis"] = list }, () => session.Output.Table(
                ["SLUG", "ID", "NAME", "VERSION", "STATE"],
                list.Select(a => new[] { Output.Text(a?["slug"]), Output.Text(a?["id"]), Output.Text(a?["name"]), Output.Text(a?["currentVersion"]), State(a) })));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Get(Runner run)
    {
        var api = ApiArgument();
        var command = new Command("get", "Show one API.") { api };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var answer = await session.Client.GetAsync($"v1/apis/{Paths.Segment(parse.GetValue(api)!)}", ct);
            session.Output.Write(answer["api"], () => PrintApi(session.Output, answer["api"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Create(Runner run)
    {
        var slug = new Option<string>("--slug") { Description = "URL name: the edge serves the API at /{slug}/… (3–63 lower-case letters, digits, hyphens).", Required = true };
        var name = new Option<string>("--name") { Description = "Display name.", Required = true };
        var description = new Option<string?>("--description") { Description = "Markdown description." };
        var upstream = new Option<string>("--upstream-url") { Description = "The upstream's base URL (http or https).", Required = true };
        var timeout = new Option<int?>("--timeout-ms") { Description = "Upstream timeout in milliseconds." };
        var openapi = new Option<FileInfo?>("--openapi") { Description = "An OpenAPI document (JSON or YAML) to publish with the API." };
        var command = new Command("create", "Publish a new API.") { slug, name, description, upstream, timeout, openapi };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var body = new JsonObject
            {
                ["slug"] = parse.GetValue(slug),
                ["name"] = parse.GetValue(name),
                ["upstreamUrl"] = parse.GetValue(upstream),
            };
            if (parse.GetValue(description) is { } d)
            {
                body["description"] = d;
            }
            if (parse.GetValue(timeout) is { } t)
            {
                body["timeoutMs"] = t;
            }
            if (parse.GetValue(openapi) is { } file)
            {
                body["openapiDocument"] = ReadFile(file);
            }
            var answer = await session.Client.PostAsync("v1/apis", body, ct);
            session.Output.Write(answer["api"], () => PrintApi(session.Output, answer["api"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Import(Runner run)
    {
        var file = new Argument<FileInfo>("document") { Description = "An OpenAPI 3.0/3.1 document (JSON or YAML)." };
        var slug = new Option<string?>("--slug") { Description = "The new API's slug (when creating)." };
        var api = new Option<string?>("--api") { Description = "Update this API (id or slug) from the document instead of creating one." };
        var command = new Command("import", "Create or update an API from an OpenAPI document (name, description and upstream from it).") { file, slug, api };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var body = new JsonObject { ["document"] = ReadFile(parse.GetValue(file)!) };
            if (parse.GetValue(slug) is { } s)
            {
                body["slug"] = s;
            }
            if (parse.GetValue(api) is { } id)
            {
                body["apiId"] = id;
            }
            var answer = await NewRoutes.CallAsync(() => session.Client.PostAsync("v1/apis:import", body, ct), session.Client, "POST", "v1/apis:import",
                "import OpenAPI documents", "use `veil apis create --openapi` instead.");
            session.Output.Write(answer["api"], () => PrintApi(session.Output, answer["api"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command History(Runner run)
    {
        var api = ApiArgument();
        var command = new Command("history", "List the API's versions, newest first.") { api };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var versions = await Paths.AllAsync(session.Client, $"v1/apis/{Paths.Segment(parse.GetValue(api)!)}/versions?pageSize=100", "versions", ct);
            session.Output.Write(new JsonObject { ["versions"] = versions }, () => session.Output.Table(
                ["VERSION", "CREATED", "BY", "NAME", "UPSTREAM"],
                versions.Select(v => new[]
                {
                    Output.Text(v?["version"]), Output.Time(v?["createTime"]), Output.Text(v?["createdBy"]),
                    Output.Text(v?["api"]?["name"]), Output.Text(v?["api"]?["upstreamUrl"]),
                })));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Diff(Runner run)
    {
        var api = ApiArgument();
        var version = new Argument<long>("version") { Description = "The version to compare." };
        var against = new Option<long?>("--against") { Description = "The version to compare it with (default: the one before)." };
        var command = new Command("diff", "Show what changed between two versions, field by field (secrets masked).") { api, version, against };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var other = parse.GetValue(against)?.ToString(CultureInfo.InvariantCulture);
            var answer = await session.Client.GetAsync(
                $"v1/apis/{Paths.Segment(parse.GetValue(api)!)}/versions/{parse.GetValue(version)}:diff" + Paths.Query(("otherVersion", other)), ct);
            session.Output.Write(answer, () =>
            {
                var changes = answer["changes"] as JsonArray ?? [];
                session.Output.Out.WriteLine($"v{Output.Text(answer["fromVersion"])} → v{Output.Text(answer["toVersion"])}: {changes.Count} change(s)");
                if (changes.Count > 0)
                {
                    session.Output.Table(["FIELD", "BEFORE", "AFTER"],
                        changes.Select(c => new[] { Output.Text(c?["field"]), Output.Text(c?["before"]), Output.Text(c?["after"]) }));
                }
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Rollback(Runner run)
    {
        var api = ApiArgument();
        var version = new Argument<long>("version") { Description = "The earlier version whose configuration becomes current again (as a new version)." };
        var command = new Command("rollback", "Make an earlier version's configuration current again, as a new version.") { api, version };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var answer = await session.Client.PostAsync($"v1/apis/{Paths.Segment(parse.GetValue(api)!)}:rollback",
                new JsonObject { ["version"] = parse.GetValue(version) }, ct);
            session.Output.Write(answer["api"], () => session.Output.Out.WriteLine(
                $"Rolled {Output.Text(answer["api"]?["slug"])} back to v{parse.GetValue(version)}: current version is now v{Output.Text(answer["api"]?["currentVersion"])}."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Lifecycle(Runner run, string verb, string description)
    {
        var api = ApiArgument();
        var command = new Command(verb, description) { api };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var path = $"v1/apis/{Paths.Segment(parse.GetValue(api)!)}:{verb}";
            var answer = await NewRoutes.CallAsync(() => session.Client.PostAsync(path, new JsonObject(), ct), session.Client, "POST", path,
                $"{verb} APIs", "this server has no API lifecycle yet.");
            session.Output.Write(answer["api"], () => PrintApi(session.Output, answer["api"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Deprecate(Runner run)
    {
        var api = ApiArgument();
        var sunset = new Option<DateTimeOffset>("--sunset") { Description = "When calls stop (RFC 3339, e.g. 2027-06-30T00:00:00Z): the Sunset header.", Required = true };
        var link = new Option<string?>("--link") { Description = "A page about the deprecation (https://…): the Link header." };
        var command = new Command("deprecate", "Deprecate the API: responses carry Deprecation and Sunset headers; subscribers get a webhook.") { api, sunset, link };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var body = new JsonObject { ["sunsetTime"] = Rfc3339(parse.GetValue(sunset)) };
            if (parse.GetValue(link) is { } l)
            {
                body["link"] = l;
            }
            var path = $"v1/apis/{Paths.Segment(parse.GetValue(api)!)}:deprecate";
            var answer = await NewRoutes.CallAsync(() => session.Client.PostAsync(path, body, ct), session.Client, "POST", path,
                "deprecate APIs", "this server has no API lifecycle yet.");
            session.Output.Write(answer["api"], () => PrintApi(session.Output, answer["api"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Delete(Runner run)
    {
        var api = ApiArgument();
        var sunset = new Option<DateTimeOffset?>("--sunset") { Description = "When calls stop and subscriptions end (RFC 3339; default: the server's, 30 days)." };
        var command = new Command("delete", "Delete the API: new subscriptions refused now, calls refused after the sunset.") { api, sunset };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var when = parse.GetValue(sunset) is { } s ? Rfc3339(s) : null;
            var path = $"v1/apis/{Paths.Segment(parse.GetValue(api)!)}" + Paths.Query(("sunsetTime", when));
            var answer = await NewRoutes.CallAsync(() => session.Client.SendAsync(HttpMethod.Delete, path, null, ct), session.Client, "DELETE", path,
                "delete APIs", "this server has no API lifecycle yet.");
            session.Output.Write(answer["api"], () => PrintApi(session.Output, answer["api"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static string Rfc3339(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string ReadFile(FileInfo file)
    {
        if (!file.Exists)
        {
            throw new UsageException($"{file.FullName} does not exist.");
        }
        return File.ReadAllText(file.FullName);
    }

    private static string State(JsonNode? api) => api?["state"] is null ? "" : Output.Enum(api["state"], "API_STATE_");

    private static void PrintApi(Output output, JsonNode? api) => output.Fields(
    [
        ("id", Output.Text(api?["id"])),
        ("slug", Output.Text(api?["slug"])),
        ("name", Output.Text(api?["name"])),
        ("description", Output.Text(api?["description"])),
        ("state", State(api)),
        ("version", Output.Text(api?["currentVersion"])),
        ("upstream", Output.Text(api?["upstreamUrl"])),
        ("timeout", api?["timeoutMs"] is { } t ? Output.Text(t) + " ms" : null),
        ("sunset", api?["sunsetTime"] is { } s ? Output.Time(s) : null),
        ("updated", Output.Time(api?["updateTime"])),
    ]);
}
