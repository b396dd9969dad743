using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Veil.Cli.Http;

namespace Veil.Cli.Commands;

/// <summary><c>veil keys …</c>: the signed-in account's API keys (docs/identity.md).</summary>
public static class KeyCommands
{
    public static Command Build(Runner run)
    {
        var keys = new Command("keys", "Your API keys: create, list, revoke, rotate.");
        keys.Subcommands.Add(Create(run));
        keys.Subcommands.Add(List(run));
        keys.Subcommands.Add(Revoke(run));
        keys.Subcommands.Add(Rotate(run));
        return keys;
    }

    private static Argument<string> KeyArgument() => new("key") { Description = "The key's id (key_…)." };

    private static Command Create(Runner run)
    {
        var name = new Option<string>("--name") { Description = "A label for the key.", Required = true };
        var days = new Option<int?>("--expires-in-days") { Description = "Days until the key expires (1–90, default 90)." };
        var apis = new Option<string[]>("--api") { Description = "Only this API (id); repeat for several. Default: every API you subscribe to.", AllowMultipleArgumentsPerToken = false };
        var readOnly = new Option<bool>("--read-only") { Description = "Only GET, HEAD and OPTIONS calls." };
        var command = new Command("create", "Create an API key; the key is printed once, keep it.") { name, days, apis, readOnly };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var body = new JsonObject { ["name"] = parse.GetValue(name), ["readOnly"] = parse.GetValue(readOnly) };
            if (parse.GetValue(days) is { } d)
            {
                body["expiresInDays"] = d;
            }
            if (parse.GetValue(apis) is { Length: > 0 } ids)
            {
                body["apiIds"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray());
            }
            var answer = await session.Client.PostAsync("v1/keys", body, ct);
            session.Output.Write(answer, () => PrintNewKey(session.Output, answer["apiKey"], answer["key"]));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List(Runner run)
    {
        var command = new Command("list", "List your keys, newest first.");
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var keys = await Paths.AllAsync(session.Client, "v1/keys?pageSize=100", "apiKeys", ct);
            session.Output.Write(new JsonObject { ["apiKeys"] = keys }, () => session.Output.Table(
                ["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "REVOKED"],
                keys.Select(k => new[]
                {
                    Output.Text(k?["id"]), Output.Text(k?["name"]), Output.Text(k?["prefix"]), Output.Time(k?["createTime"]),
                    Output.Time(k?["expireTime"]), Output.Time(k?["revokeTime"]),
                })));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Revoke(Runner run)
    {
        var key = KeyArgument();
        var command = new Command("revoke", "Revoke a key: calls with it are refused from now on.") { key };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var answer = await session.Client.PostAsync($"v1/keys/{Paths.Segment(parse.GetValue(key)!)}:revoke", new JsonObject(), ct);
            session.Output.Write(answer["apiKey"], () => session.Output.Out.WriteLine($"Revoked {Output.Text(answer["apiKey"]?["id"])}."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Rotate(Runner run)
    {
        var key = KeyArgument();
        var overlap = new Option<TimeSpan?>("--overlap") { Description = "How long the old key keeps working (e.g. 1:00:00; default 24 h, at most 7 days; 0 ends it now)." };
        var command = new Command("rotate", "Replace a key with a new one; the old one works for the overlap.") { key, overlap };
        command.SetAction(run.Action(async (session, parse, ct) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(overlap) is { } o)
            {
                body["overlap"] = ((long)o.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s";
            }
            var answer = await session.Client.PostAsync($"v1/keys/{Paths.Segment(parse.GetValue(key)!)}:rotate", body, ct);
            session.Output.Write(answer, () =>
            {
                PrintNewKey(session.Output, answer["apiKey"], answer["key"]);
                session.Output.Out.WriteLine($"old key {Output.Text(answer["previousApiKey"]?["id"])} works until {Output.Time(answer["previousApiKey"]?["expireTime"])}");
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void PrintNewKey(Output output, JsonNode? metadata, JsonNode? key)
    {
        output.Fields([("id", Output.Text(metadata?["id"])), ("name", Output.Text(metadata?["name"])), ("expires", Output.Time(metadata?["expireTime"])), ("key", Output.Text(key))]);
        output.Error.WriteLine("The key is shown only this once: keep it now.");
    }
}
