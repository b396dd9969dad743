using System.Text.RegularExpressions;

namespace Veil.Deploy.Tests;

/// <summary>The shape of deploy/istio: what runs, how it is probed, stored, secured and stopped.</summary>
public sealed partial class ManifestTests
{
    private static readonly string[] ClusterScopedKinds = ["Namespace"];

    [Fact]
    public void Kustomization_ListsEveryManifestFile()
    {
        var files = Directory.EnumerateFiles(Repo.ManifestDirectory, "*.yaml")
            .Select(Path.GetFileName)
            .Where(f => f != "kustomization.yaml")
            .Order();

        Assert.Equal(files, Repo.KustomizationResources().Order());
    }

    [Fact]
    public void Namespace_IsLabelledForSidecarInjection_AndHoldsEverything()
    {
        var ns = Assert.Single(Repo.Manifests, m => m.Kind == "Namespace");
        Assert.Equal(Fleet.Namespace, ns.Name);
        Assert.Equal("enabled", ns.Root["metadata"]["labels"]["istio-injection"].String);

        foreach (var manifest in Repo.Manifests.Where(m => !ClusterScopedKinds.Contains(m.Kind)))
        {
            Assert.True(Fleet.Namespace == manifest.Root["metadata"]["namespace"].String, $"{manifest} is not in namespace {Fleet.Namespace}");
        }
    }

    [Fact]
    public void Workloads_OneForEachComponent_WithItsOwnServiceAccount()
    {
        Assert.Equal(Fleet.Workloads.Order(), Workload.All.Select(w => w.Name).Order());
        var accounts = Repo.Manifests.Where(m => m.Kind == "ServiceAccount").Select(m => m.Name).ToHashSet();
        foreach (var workload in Workload.All)
        {
            // Its own account is its mesh identity: the policies name callers by it.
            Assert.Equal(workload.Name, workload.Pod["serviceAccountName"].String);
            Assert.Contains(workload.Name, accounts);
            Assert.Equal("veil/" + workload.Name + ":latest", workload.Container["image"].String);
        }
    }

    [Fact]
    public void Workloads_ProbeTheRealHealthPaths_OnTheirHttpPort()
    {
        // The paths MapDefaultEndpoints serves (defaults/Extensions.cs).
        var defaults = Repo.Read("defaults", "Extensions.cs");
        var health = HealthPathRegex().Match(defaults).Groups[1].Value;
        var alive = AlivePathRegex().Match(defaults).Groups[1].Value;
        Assert.Equal("/health", health);
        Assert.Equal("/alive", alive);

        foreach (var workload in Workload.All)
        {
            var container = workload.Container;
            Assert.True(health == container["readinessProbe"]["httpGet"]["path"].String, $"{workload}: readiness must probe {health}");
            Assert.True(alive == container["livenessProbe"]["httpGet"]["path"].String, $"{workload}: liveness must probe {alive}");
            foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
            {
                var port = container[probe]["httpGet"]["port"].String;
                Assert.True(workload.Ports.ContainsKey(port), $"{workload}: {probe} probes port '{port}', which the container does not declare");
                // Health and metrics are served on the HTTP/1.1 endpoint; a kubelet probe cannot speak prior-knowledge HTTP/2.
                Assert.Equal("Http1", workload.KestrelEndpoints.Values.Single(e => e.Port == workload.Ports[port]).Protocols);
            }
        }
    }

    [Fact]
    public void Edge_OperationsEndpoints_OnTheManagementPortOnly()
    {
        var edge = Workload.Named("edge");
        var management = edge.KestrelEndpoints["Management"].Port;
        var http = edge.KestrelEndpoints["Http"].Port;
        Assert.NotEqual(http, management);
        // The endpoint name the code serves operations on (defaults/Extensions.cs).
        Assert.Contains("ManagementEndpointName = \"Management\"", Repo.Read("defaults", "Extensions.cs"), StringComparison.Ordinal);

        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
        {
            Assert.Equal(management, edge.Ports[edge.Container[probe]["httpGet"]["port"].String]);
        }
        var annotations = edge.Manifest.Spec["template"]["metadata"]["annotations"];
        Assert.Equal(management.ToString(System.Globalization.CultureInfo.InvariantCulture), annotations["prometheus.io/port"].String);

        // The AppHost gives the local edge the same split, and Aspire checks health there.
        var apphost = Repo.Read("apphost", "Program.cs");
        Assert.Contains("Kestrel__Endpoints__Management__Url", apphost, StringComparison.Ordinal);
        Assert.Contains("WithHttpHealthCheck(\"/health\", endpointName: \"management\")", apphost, StringComparison.Ordinal);

        // The Service (what the ingress gateway routes to) exposes the public ports only: HTTP/1.1
        // and prior-knowledge HTTP/2 (gRPC APIs).
        var grpc = edge.KestrelEndpoints["Grpc"].Port;
        var service = Assert.Single(Repo.Manifests, m => m.Kind == "Service" && m.Name == "edge");
        Assert.Equal([http, grpc], service.Spec["ports"].Items.Select(p => p["port"].Int ?? -1));
    }

    [Fact]
    public void Workloads_RunAsNonRoot_WithAReadOnlyRootFileSystem()
    {
        foreach (var workload in Workload.All)
        {
            var security = workload.Container["securityContext"];
            Assert.True(security["runAsNonRoot"].String == "true", $"{workload}: runAsNonRoot");
            Assert.True(security["readOnlyRootFilesystem"].String == "true", $"{workload}: readOnlyRootFilesystem");
            Assert.True(security["allowPrivilegeEscalation"].String == "false", $"{workload}: allowPrivilegeEscalation");
            Assert.True((security["runAsUser"].Int ?? 0) > 0, $"{workload}: runAsUser must not be root");
            Assert.Contains("ALL", security["capabilities"]["drop"].Items.Select(i => i.String));
            Assert.True(workload.Container["resources"]["requests"]["cpu"].Exists && workload.Container["resources"]["requests"]["memory"].Exists,
                $"{workload}: resource requests");
        }
    }

    [Fact]
    public void DataDirectory_IsAWritableVolume_PersistentWhereThereIsData()
    {
        var owners = Repo.SqliteOwners();
        Assert.NotEmpty(owners);
        foreach (var workload in Workload.All)
        {
            var mounts = workload.Container["volumeMounts"].Items.ToDictionary(m => m["mountPath"].String, m => m["name"].String);
            if (!workload.Env.TryGetValue("Veil__DataDirectory", out var directory))
            {
                Assert.False(owners.Contains(workload.Name) || workload.Name == "edge", $"{workload}: Veil__DataDirectory is not set");
                continue;
            }
            Assert.True(mounts.TryGetValue(directory, out var volume), $"{workload}: nothing is mounted at {directory}");
            Assert.True(workload.Container["volumeMounts"].Items.Single(m => m["mountPath"].String == directory)["readOnly"].String != "true");

            if (workload.Manifest.Kind == "StatefulSet")
            {
                Assert.Contains(volume, workload.Manifest.Spec["volumeClaimTemplates"].Items.Select(t => t["metadata"]["name"].String));
            }
            else
            {
                var claim = workload.Pod["volumes"].Items.Single(v => v["name"].String == volume)["persistentVolumeClaim"]["claimName"].String;
                Assert.Contains(Repo.Manifests, m => m.Kind == "PersistentVolumeClaim" && m.Name == claim);
            }
        }
    }

    [Fact]
    public void SqliteOwners_RunOneReplica_ReplacedWithRecreate()
    {
        foreach (var owner in Repo.SqliteOwners())
        {
            var workload = Workload.Named(owner);
            Assert.Equal("Deployment", workload.Manifest.Kind);
            Assert.True(workload.Manifest.Spec["replicas"].Int == 1, $"{workload}: one writer per SQLite file");
            Assert.True(workload.Manifest.Spec["strategy"]["type"].String == "Recreate", $"{workload}: a rolling update would run two writers");
            Assert.True(workload.Env.ContainsKey("Veil__DataDirectory"), $"{workload}: its SQLite file must live on the volume");
        }
    }

    [Fact]
    public void Edge_IsAStatefulSet_WithAPerPodSpoolVolume()
    {
        var edge = Workload.Named("edge");
        Assert.Equal("StatefulSet", edge.Manifest.Kind);
        var template = Assert.Single(edge.Manifest.Spec["volumeClaimTemplates"].Items);
        var mount = edge.Container["volumeMounts"].Items.Single(m => m["name"].String == template["metadata"]["name"].String);
        Assert.Equal(edge.Env["Veil__DataDirectory"], mount["mountPath"].String);
        // Scaling down must not delete a spool that may still hold unshipped calls.
        Assert.Equal("Retain", edge.Manifest.Spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"].String);
    }

    [Fact]
    public void Edge_StopBudget_CoversTheDrainAndTheLastShipment()
    {
        // The longest in-flight call (the default upstream timeout) plus the spool's last shipment
        // must fit in the host's stop budget, and that plus preStop in the pod's grace period.
        var upstream = Seconds(Repo.Read("edge", "EdgeOptions.cs"), "DefaultUpstreamTimeout");
        var ship = Seconds(Repo.Read("edge", "Metering", "EdgeUsageOptions.cs"), "StopShipTimeout");
        var edge = Workload.Named("edge");
        var shutdown = int.Parse(edge.Env["shutdownTimeoutSeconds"], System.Globalization.CultureInfo.InvariantCulture);
        var preStop = edge.Container["lifecycle"]["preStop"]["sleep"]["seconds"].Int ?? 0;
        var grace = edge.Pod["terminationGracePeriodSeconds"].Int ?? 30;

        Assert.True(shutdown >= upstream + ship, $"shutdownTimeoutSeconds {shutdown} < upstream timeout {upstream} + StopShipTimeout {ship}");
        Assert.True(grace > preStop + shutdown, $"terminationGracePeriodSeconds {grace} <= preStop {preStop} + shutdown {shutdown}");
    }

    [Fact]
    public void Services_NamePortsByProtocol_AndTargetDeclaredContainerPorts()
    {
        var services = Repo.Manifests.Where(m => m.Kind == "Service").ToList();
        Assert.Equal(Fleet.Workloads.Order(), services.Select(s => s.Name).Order());
        foreach (var service in services)
        {
            var selector = service.Spec["selector"].Entries.ToDictionary(e => e.Key, e => e.Value.String);
            var workload = Assert.Single(Workload.All, w => selector.All(kv => w.Labels.GetValueOrDefault(kv.Key) == kv.Value));
            foreach (var port in service.Spec["ports"].Items)
            {
                var name = port["name"].String;
                Assert.True(name.StartsWith("http-", StringComparison.Ordinal) || name.StartsWith("grpc-", StringComparison.Ordinal),
                    $"{service}: port '{name}' must start with http- or grpc- for Istio's protocol selection");

                var target = port["targetPort"];
                var containerPort = target.Int ?? (workload.Ports.TryGetValue(target.String, out var p) ? p : -1);
                Assert.True(workload.Ports.Values.Contains(containerPort), $"{service}: port '{name}' targets {target}, which {workload} does not declare");
                Assert.True(port["port"].Int == containerPort, $"{service}: port '{name}' should keep the container's port number");

                // The name must say what Kestrel really serves there.
                var endpoint = workload.KestrelEndpoints.Values.Where(e => e.Port == containerPort).ToList();
                var kestrel = Assert.Single(endpoint);
                Assert.Equal(name.StartsWith("grpc-", StringComparison.Ordinal) ? "Http2" : "Http1", kestrel.Protocols);
            }
        }
    }

    [Fact]
    public void Sidecar_IsNative_SoItOutlivesTheApp()
    {
        foreach (var workload in Workload.All)
        {
            Assert.Equal("true", workload.Manifest.Spec["template"]["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"].String);
        }
    }

    private static int Seconds(string source, string property)
    {
        var match = Regex.Match(source, property + @"\s*\{\s*get;\s*set;\s*\}\s*=\s*TimeSpan\.FromSeconds\((\d+)\)");
        Assert.True(match.Success, $"default of {property} not found");
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("HealthPath = \"([^\"]+)\"")]
    private static partial Regex HealthPathRegex();

    [GeneratedRegex("AlivePath = \"([^\"]+)\"")]
    private static partial Regex AlivePathRegex();
}
