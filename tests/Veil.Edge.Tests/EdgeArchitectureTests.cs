using ArchUnitNET.Domain;
using ArchUnitNET.Fluent;
using ArchUnitNET.Loader;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace Veil.Edge.Tests;

/// <summary>
/// The edge's folders follow its pipeline: one namespace per step (docs/edge.md, "Where the code
/// lives"). A step reaches another only through what they share: <c>Veil.Edge.Calls</c> (the per-call
/// vocabulary), <c>Veil.Edge.Dependencies</c> (caches and streams of the fleet's services) and the
/// root <c>Veil.Edge</c> (options, logs, metrics); only the composition (<c>EdgeExtensions</c>)
/// wires steps to each other. Read from the compiled assembly (ArchUnitNET, Mono.Cecil), so method
/// bodies count, not only signatures; constants are inlined by the compiler and are not seen.
/// </summary>
public sealed class EdgeArchitectureTests
{
    private const string Root = "Veil.Edge";

    /// <summary>The steps, in the order a request meets them.</summary>
    private static readonly string[] StepNames = ["Routing", "Cors", "RateLimiting", "Auth", "Entitlement", "Quota", "Resilience", "Upstreams", "Forwarding", "Metering"];

    /// <summary>What every step may use.</summary>
    private static readonly string[] SharedNames = ["Calls", "Dependencies"];

    private static readonly Architecture Edge = new ArchLoader().LoadAssemblies(typeof(EdgeOptions).Assembly).Build();

    public static TheoryData<string> Steps => new(StepNames);

    public static TheoryData<string> Shared => new(SharedNames);

    [Theory]
    [MemberData(nameof(Steps))]
    public void Step_ReferencesNoOtherStep(string step)
    {
        var others = StepNames.Where(s => s != step).ToArray();
        // The step exists and the analysis sees into it: each step reads the call's vocabulary somewhere.
        Assert.NotEmpty(Types().That().ResideInNamespace($"{Root}.{step}").And().DependOnAny(InNamespaces("Calls")).GetObjects(Edge));

        AssertHolds(Types().That().ResideInNamespace($"{Root}.{step}").Should().NotDependOnAny(InNamespaces(others))
            .Because($"{step} may reach other steps only through Calls, Dependencies or the root"));
    }

    [Theory]
    [MemberData(nameof(Shared))]
    public void SharedNamespace_ReferencesNoStep(string shared) =>
        AssertHolds(Types().That().ResideInNamespace($"{Root}.{shared}").Should().NotDependOnAny(InNamespaces(StepNames))
            .Because($"{shared} is shared by every step, so it must not lean on one"));

    [Fact]
    public void EdgeNamespaces_AreTheRootTheSharedOnesAndTheSteps()
    {
        var known = new HashSet<string>([Root, .. SharedNames.Concat(StepNames).Select(n => $"{Root}.{n}")], StringComparer.Ordinal);
        var unknown = Edge.Types.Select(t => t.Namespace.FullName)
            .Where(n => n.StartsWith(Root, StringComparison.Ordinal) && !known.Contains(n))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        // A new folder is either a step (add it to StepNames, in request order, and to docs/edge.md) or shared.
        Assert.Empty(unknown);
    }

    private static IObjectProvider<IType> InNamespaces(params string[] names) =>
        Types().That().ResideInNamespaceMatching($@"^{Root.Replace(".", @"\.", StringComparison.Ordinal)}\.({string.Join('|', names)})$");

    private static void AssertHolds(IArchRule rule)
    {
        var violations = rule.Evaluate(Edge).Where(r => !r.Passed).Select(r => r.Description).ToList();
        Assert.True(violations.Count == 0, $"{rule.Description}:{Environment.NewLine}{string.Join(Environment.NewLine, violations)}");
    }
}
