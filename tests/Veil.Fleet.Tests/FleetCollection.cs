namespace Veil.Fleet.Tests;

/// <summary>One fleet for every test class of this project: starting it is the expensive part.</summary>
[CollectionDefinition(Name)]
public sealed class FleetCollection : ICollectionFixture<FleetFixture>
{
    public const string Name = "fleet";
}
