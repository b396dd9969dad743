using System.Text.RegularExpressions;

namespace Veil.Deploy.Tests;

/// <summary>The configuration the manifests give each process: keys it reads, addresses that exist.</summary>
public sealed partial class ConfigurationTests
{
    /// <summary>Keys read by the framework rather than by Veil's code, each with where it comes from.</summary>
    private static readonly Dictionary<string, string> FrameworkKeys = new()
    {
        ["OTEL_SERVICE_NAME"] = "OpenTelemetry SDK: the service.name resource attribute",
        ["ASPNETCORE_FORWARDEDHEADERS_ENABLED"] = "ASP.NET Core: ForwardedHeadersOptions startup filter",
        ["shutdownTimeoutSeconds"] = "Microsoft.Extensions.Hosting: HostOptions.ShutdownTimeout",
    };

    [Fact]
    public void KestrelEndpoints_AreTheAppSettingsEndpoints_OnTheDeclaredContainerPorts()
    {
        foreach (var workload in Workload.All)
        {
            var appSettings = workload.AppSettingsEndpoints();
            var endpoints = workload.KestrelEndpoints;
            Assert.Equal(appSettings.Keys.Order(), endpoints.Keys.Order());
            foreach (var (name, (port, protocols)) in endpoints)
            {
                Assert.True(appSettings[name] == protocols, $"{workload}: endpoint {name} is {protocols}, appsettings.json says {appSettings[name]}");
                Assert.True(workload.Ports.Values.Contains(port), $"{workload}: Kestrel endpoint {name} listens on {port}, not a container port");
                Assert.StartsWith("http://+:", workload.Env[$"Kestrel__Endpoints__{name}__Url"]);
            }
        }
    }

    [Fact]
    public void DiscoveryVariables_PointAtServicePortsOfTheRightProtocol()
    {
        var services = Repo.Manifests.Where(m => m.Kind == "Service").ToDictionary(m => m.Name);
        foreach (var workload in Workload.All)
        {
            foreach (var (key, value) in workload.Env.Where(e => e.Key.StartsWith("services__", StringComparison.Ordinal)))
            {
                var parts = key.Split("__");
                Assert.True(parts is ["services", _, "http" or "grpc", "0"], $"{workload}: {key} is not a services__<name>__<http|grpc>__0 variable");
                var (target, endpoint) = (parts[1], parts[2]);
                var uri = new Uri(value);
                Assert.Equal("http", uri.Scheme); // plaintext to the local sidecar; the mesh adds mTLS
                Assert.True(uri.Host == target, $"{workload}: {key} = {value} should name the {target} Service");
                Assert.True(services.TryGetValue(target, out var service), $"{workload}: {key} names a Service that does not exist");
                var port = service.Spec["ports"].Items.SingleOrDefault(p => p["port"].Int == uri.Port);
                Assert.True(port is not null, $"{workload}: {key} = {value}, but {service} has no port {uri.Port}");
                Assert.True(port["name"].String.StartsWith(endpoint + "-", StringComparison.Ordinal),
                    $"{workload}: {key} expects {endpoint}, port {uri.Port} of {service} is {port["name"]}");
            }
        }
    }

    [Fact]
    public void DiscoveryVariables_AreExactlyTheCallsInTheCallerTable()
    {
        foreach (var workload in Workload.All)
        {
            var configured = workload.Env.Keys
                .Where(k => k.StartsWith("services__", StringComparison.Ordinal))
                .Select(k => k.Split("__"))
                .Select(p => (p[1], p[2]))
                .Order();
            Assert.Equal(Fleet.Calls(workload.Name).Order(), configured);
        }
    }

    [Fact]
    public void EnvironmentKeys_AreKeysTheProcessReads()
    {
        foreach (var workload in Workload.All)
        {
            var sources = Repo.Sources(workload.Name)
                .Concat(Directory.EnumerateFiles(Path.Combine(Repo.Root, "defaults"), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText))
                .ToList();
            foreach (var key in workload.Env.Keys)
            {
                if (key.StartsWith("services__", StringComparison.Ordinal) || FrameworkKeys.ContainsKey(key))
                {
                    continue; // checked above, or documented in FrameworkKeys
                }
                if (key.Split("__") is ["Kestrel", "Endpoints", var endpoint, "Url" or "Protocols"])
                {
                    Assert.True(workload.AppSettingsEndpoints().ContainsKey(endpoint), $"{workload}: {key} names an endpoint appsettings.json does not have");
                    continue;
                }
                // A Veil setting: a property of an options class bound from its section
                // (const SectionName), or a path named in the component's own code (validation
                // messages, logs, raw reads) or the shared defaults.
                var path = key.Replace("__", ":", StringComparison.Ordinal);
                Assert.True(sources.Any(s => IsOptionsProperty(s, path) || s.Contains(path, StringComparison.Ordinal)),
                    $"{workload}: {key} ({path}) is not a key {workload.Name} reads");
            }
        }
    }

    [Fact]
    public void Edge_KnowsHowManyEdgesShareTheLimits()
    {
        // Degraded mode enforces limit / EdgeCount on each edge (docs/rate-limiting.md): a count
        // below the replicas lets the fleet admit more than the limit while ratelimit is down.
        var edge = Workload.Named("edge");
        Assert.Equal(edge.Manifest.Spec["replicas"].String, edge.Env["Edge__RateLimiting__EdgeCount"]);
    }

    [Fact]
    public void SsrfGuards_StayOnInProduction()
    {
        // Catalog's upstream check, the edge's connect-time guard and usage's webhook guard are
        // turned off only by the AppHost and the tests (their upstreams listen on loopback).
        string[] switches = ["Catalog__AllowPrivateUpstreams", "Edge__AllowPrivateUpstreams", "Usage__AllowPrivateWebhooks"];
        foreach (var workload in Workload.All)
        {
            foreach (var key in switches)
            {
                Assert.False(workload.Env.TryGetValue(key, out var value) && !string.Equals(value, "false", StringComparison.OrdinalIgnoreCase),
                    $"{workload}: {key} = {value} turns an SSRF guard off");
            }
        }
    }

    [Fact]
    public void Secrets_AreReferencedNotInlined()
    {
        string[] secretKeys = ["Identity__Admin__Password", "Identity__ApiKeyHashSecret", "RateLimit__Redis__Configuration", "Veil__Secrets__Kek", "Veil__Secrets__PreviousKeks"];
        foreach (var workload in Workload.All)
        {
            foreach (var env in workload.Container["env"].Items.Where(e => secretKeys.Contains(e["name"].String)))
            {
                Assert.False(env["value"].Exists, $"{workload}: {env["name"]} must come from a Secret");
                Assert.True(env["valueFrom"]["secretKeyRef"]["name"].String.Length > 0);
            }
        }
        // Services that keep secrets in their database get the key-encryption key from a Secret,
        // required (they refuse to start without it outside Development).
        foreach (var name in new[] { "identity", "catalog", "usage" })
        {
            var kek = Workload.Named(name).Container["env"].Items.Single(e => e["name"].String == "Veil__Secrets__Kek");
            Assert.NotEqual("true", kek["valueFrom"]["secretKeyRef"]["optional"].String);
        }
        // Shared limiter state: without Redis every ratelimit replica would keep its own buckets.
        var ratelimit = Workload.Named("ratelimit");
        var redis = ratelimit.Container["env"].Items.Single(e => e["name"].String == "RateLimit__Redis__Configuration");
        Assert.NotEqual("true", redis["valueFrom"]["secretKeyRef"]["optional"].String);
    }

    /// <summary>True when <paramref name="source"/> declares an options class bound from the path's section with a property of its last segment.</summary>
    private static bool IsOptionsProperty(string source, string path)
    {
        var section = SectionNameRegex().Match(source);
        if (!section.Success || !path.StartsWith(section.Groups[1].Value + ":", StringComparison.Ordinal))
        {
            return false;
        }
        var property = path[(section.Groups[1].Value.Length + 1)..];
        return !property.Contains(':', StringComparison.Ordinal) &&
            Regex.IsMatch(source, $@"public\s+[\w<>?,\[\] ]+\s+{Regex.Escape(property)}\s*\{{\s*get;");
    }

    [GeneratedRegex("const string SectionName = \"([^\"]+)\"")]
    private static partial Regex SectionNameRegex();
}
