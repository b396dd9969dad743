using System.Text.RegularExpressions;

namespace Veil.Deploy.Tests;

/// <summary>
/// The mesh's trust model: mTLS everywhere, deny by default, and each port open to exactly the
/// callers in <see cref="Fleet"/>, which in turn must be the calls the code and the AppHost make.
/// </summary>
public sealed partial class TrustModelTests
{
    [Fact]
    public void PeerAuthentication_IsStrictForTheWholeNamespace()
    {
        var peer = Assert.Single(Repo.Manifests, m => m.Kind == "PeerAuthentication");
        Assert.False(peer.Spec["selector"].Exists, "a namespace-wide PeerAuthentication has no selector");
        Assert.Equal("STRICT", peer.Spec["mtls"]["mode"].String);
        Assert.False(peer.Spec["portLevelMtls"].Exists, "no port may opt out of mTLS");
    }

    [Fact]
    public void AuthorizationPolicy_DeniesAllByDefault()
    {
        // An ALLOW policy with an empty spec: every workload in the namespace, nothing allowed.
        Assert.Contains(Repo.Manifests, m => m.Kind == "AuthorizationPolicy" && m.Spec.IsEmptyMapping);
        // And no policy opens anything wider.
        foreach (var policy in Policies())
        {
            Assert.True(policy.Spec["action"].String is "" or "ALLOW", $"{policy}: only ALLOW policies are expected");
            foreach (var rule in policy.Spec["rules"].Items)
            {
                Assert.True(rule["from"].Items.Count > 0 && rule["from"].Items.All(f => f["source"]["principals"].Items.Count > 0),
                    $"{policy}: every rule must name its callers' principals");
                Assert.True(rule["to"].Items.Count > 0 && rule["to"].Items.All(t => t["operation"]["ports"].Items.Count > 0),
                    $"{policy}: every rule must name its ports");
                Assert.False(rule["from"].Items.Any(f => f["source"].Entries.Keys.Any(k => k != "principals")),
                    $"{policy}: sources other than principals are not checked here");
            }
        }
    }

    [Fact]
    public void AuthorizationPolicy_PrincipalsNameServiceAccountsThatExist()
    {
        var accounts = Repo.Manifests.Where(m => m.Kind == "ServiceAccount").Select(m => Fleet.Principal(m.Name)).ToHashSet();
        foreach (var policy in Policies())
        {
            foreach (var principal in Principals(policy))
            {
                Assert.True(accounts.Contains(principal) || Fleet.ExternalPrincipals.Contains(principal),
                    $"{policy}: principal {principal} is neither a ServiceAccount in {Fleet.Namespace} nor a known external caller");
            }
        }
    }

    [Fact]
    public void AuthorizationPolicy_SelectsAWorkloadAndItsPorts()
    {
        foreach (var policy in Policies())
        {
            var workload = Selected(policy);
            foreach (var port in policy.Spec["rules"].Items.SelectMany(r => r["to"].Items).SelectMany(t => t["operation"]["ports"].Items))
            {
                // Policies match the workload's port, not the Service's.
                Assert.True(workload.Ports.Values.Contains(port.Int ?? -1), $"{policy}: port {port} is not a container port of {workload}");
            }
        }
    }

    [Fact]
    public void AuthorizationPolicy_AdmitsExactlyTheCallerTable()
    {
        foreach (var workload in Workload.All)
        {
            var actual = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var policy in Policies().Where(p => Selected(p) == workload))
            {
                foreach (var rule in policy.Spec["rules"].Items)
                {
                    var operations = rule["to"].Items.Select(t => t["operation"]).ToList();
                    foreach (var principal in Principals(rule))
                    {
                        foreach (var operation in operations)
                        {
                            var paths = operation["paths"].Items.Select(p => p.String).DefaultIfEmpty("*");
                            foreach (var port in operation["ports"].Items)
                            {
                                actual.UnionWith(paths.Select(path => Grant(principal, port.Int ?? -1, path)));
                            }
                        }
                    }
                }
            }
            Assert.Equal(Expected(workload), actual);
        }
    }

    [Fact]
    public void CallerTable_NamesRpcsThatExist()
    {
        foreach (var (callee, callers) in Fleet.GrpcCallers)
        {
            var (_, rpcs) = Repo.Proto(callee);
            foreach (var rpc in callers.Values.SelectMany(r => r))
            {
                Assert.True(rpcs.Contains(rpc), $"{callee} has no rpc {rpc}");
            }
        }
    }

    [Fact]
    public void CallerTable_IsTheGrpcClientsInTheCode()
    {
        // Every client of a service (AddVeilGrpcClient<…>("<service>") or a "http://_grpc.<service>"
        // address), and every RPC of that service the caller invokes.
        var actual = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var caller in Fleet.Workloads)
        {
            var code = string.Join('\n', Repo.Sources(caller));
            foreach (var callee in GrpcAddressRegex().Matches(code).Select(m => m.Groups["service"].Value).Distinct())
            {
                foreach (var rpc in Repo.Proto(callee).Rpcs.Where(rpc => Regex.IsMatch(code, $@"\.{rpc}(Async)?\(")))
                {
                    actual.Add($"{caller} → {callee}.{rpc}");
                }
            }
        }
        var expected = Fleet.GrpcCallers.SelectMany(callee => callee.Value.SelectMany(caller => caller.Value.Select(rpc => $"{caller.Key} → {callee.Key}.{rpc}")));
        Assert.Equal(expected.Order(StringComparer.Ordinal), actual);
    }

    [Fact]
    public void CallerTable_IsTheAppHostWiring()
    {
        // The AppHost is the local wiring of the same fleet: WithReference(x.GetEndpoint("e")) and
        // WithIdentity(identity) (identity's HTTP endpoint, for JWKS).
        var source = CommentRegex().Replace(Repo.Read("apphost", "Program.cs"), "");
        var resources = new Dictionary<string, string>();
        var actual = Fleet.Workloads.ToDictionary(w => w, _ => new SortedSet<(string, string)>());
        foreach (var statement in source.Split(';'))
        {
            var declared = ResourceRegex().Match(statement);
            string? subject = null;
            if (declared.Success)
            {
                subject = declared.Groups[2].Value;
                if (declared.Groups[1].Success)
                {
                    resources[declared.Groups[1].Value] = subject;
                }
            }
            else if (SubjectRegex().Match(statement) is { Success: true } use && resources.TryGetValue(use.Groups[1].Value, out var known))
            {
                subject = known;
            }
            if (subject is null || !actual.TryGetValue(subject, out var calls))
            {
                continue;
            }
            foreach (Match reference in ReferenceRegex().Matches(statement))
            {
                calls.Add((resources[reference.Groups[1].Value], reference.Groups[2].Value));
            }
            foreach (Match identity in WithIdentityRegex().Matches(statement))
            {
                calls.Add((resources[identity.Groups[1].Value], "http"));
            }
        }
        foreach (var workload in Fleet.Workloads)
        {
            Assert.Equal(Fleet.Calls(workload).Order(), actual[workload]);
        }
    }

    [Fact]
    public void Mesh_DoesNotRetryOnTopOfTheCallers()
    {
        var virtualServices = Repo.Manifests.Where(m => m.Kind == "VirtualService").ToList();
        foreach (var service in Fleet.Services)
        {
            var host = $"{service}.{Fleet.Namespace}.svc.cluster.local";
            var vs = Assert.Single(virtualServices, v => v.Spec["hosts"].Items.Any(h => h.String == host));
            Assert.All(vs.Spec["http"].Items, route => Assert.Equal(0, route["retries"]["attempts"].Int));
        }
        var ingress = Assert.Single(virtualServices, v => v.Spec["gateways"].Exists);
        Assert.All(ingress.Spec["http"].Items, route => Assert.Equal(0, route["retries"]["attempts"].Int));
    }

    [Fact]
    public void Ingress_TerminatesTls13_AndRoutesOnlyToTheEdge()
    {
        var gateway = Assert.Single(Repo.Manifests, m => m.Kind == "Gateway");
        var https = Assert.Single(gateway.Spec["servers"].Items, s => s["port"]["protocol"].String == "HTTPS");
        Assert.Equal("SIMPLE", https["tls"]["mode"].String);
        Assert.NotEmpty(https["tls"]["credentialName"].String);
        Assert.Equal("TLSV1_3", https["tls"]["minProtocolVersion"].String);
        Assert.All(gateway.Spec["servers"].Items.Where(s => s["port"]["protocol"].String == "HTTP"),
            s => Assert.Equal("true", s["tls"]["httpsRedirect"].String));

        var routes = Repo.Manifests.Where(m => m.Kind == "VirtualService" && m.Spec["gateways"].Items.Any(g => g.String == gateway.Name));
        var destinations = routes.SelectMany(r => r.Spec["http"].Items).SelectMany(h => h["route"].Items).Select(d => d["destination"]["host"].String);
        Assert.Equal([$"edge.{Fleet.Namespace}.svc.cluster.local"], destinations.Distinct());
    }

    private static IEnumerable<Manifest> Policies() =>
        Repo.Manifests.Where(m => m.Kind == "AuthorizationPolicy" && !m.Spec.IsEmptyMapping);

    private static IEnumerable<string> Principals(Manifest policy) =>
        policy.Spec["rules"].Items.SelectMany(Principals);

    private static IEnumerable<string> Principals(Node rule) =>
        rule["from"].Items.SelectMany(f => f["source"]["principals"].Items).Select(p => p.String);

    private static Workload Selected(Manifest policy)
    {
        var selector = policy.Spec["selector"]["matchLabels"].Entries.ToDictionary(e => e.Key, e => e.Value.String);
        Assert.True(selector.Count > 0, $"{policy}: a workload policy must have a selector");
        return Assert.Single(Workload.All, w => selector.All(kv => w.Labels.GetValueOrDefault(kv.Key) == kv.Value));
    }

    private static string Grant(string principal, int port, string path) => $"{principal} → :{port} {path}";

    /// <summary>What the caller table says each of a workload's ports admits.</summary>
    private static SortedSet<string> Expected(Workload workload)
    {
        var expected = new SortedSet<string>(StringComparer.Ordinal);
        var http = workload.KestrelEndpoints["Http"].Port;
        if (workload.Name == "edge")
        {
            // The gateway reaches only the public ports (HTTP/1.1, and HTTP/2 for gRPC APIs);
            // Prometheus only the management port.
            expected.Add(Grant(Fleet.IngressGateway, http, "*"));
            expected.Add(Grant(Fleet.IngressGateway, workload.KestrelEndpoints["Grpc"].Port, "*"));
            expected.Add(Grant(Fleet.Prometheus, workload.KestrelEndpoints["Management"].Port, "/metrics"));
            return expected;
        }
        expected.Add(Grant(Fleet.Prometheus, http, "/metrics"));
        if (Fleet.ProxiedByEdge.Contains(workload.Name))
        {
            expected.Add(Grant(Fleet.Principal("edge"), http, "*"));
        }
        if (workload.Name == "identity")
        {
            expected.UnionWith(Fleet.JwksReaders.SelectMany(r => Fleet.JwksPaths.Select(p => Grant(Fleet.Principal(r), http, p))));
        }
        var grpc = workload.KestrelEndpoints["Grpc"].Port;
        var service = Repo.Proto(workload.Name).FullName;
        foreach (var (caller, rpcs) in Fleet.GrpcCallers[workload.Name])
        {
            expected.UnionWith(rpcs.Select(rpc => Grant(Fleet.Principal(caller), grpc, $"/{service}/{rpc}")));
        }
        return expected;
    }

    [GeneratedRegex(@"(?:""http://_grpc\.|AddVeilGrpcClient<[\w.]+>\("")(?<service>\w+)""")]
    private static partial Regex GrpcAddressRegex();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex CommentRegex();

    [GeneratedRegex(@"(?:var\s+(\w+)\s*=\s*)?builder\.(?:AddVeilService|AddProject)<[^>]+>\(\s*""(\w+)""")]
    private static partial Regex ResourceRegex();

    [GeneratedRegex(@"(\w+)\s*\.\s*With")]
    private static partial Regex SubjectRegex();

    [GeneratedRegex(@"WithReference\(\s*(\w+)\.GetEndpoint\(\s*""(\w+)""\s*\)\s*\)")]
    private static partial Regex ReferenceRegex();

    [GeneratedRegex(@"WithIdentity\(\s*(\w+)\s*\)")]
    private static partial Regex WithIdentityRegex();
}
