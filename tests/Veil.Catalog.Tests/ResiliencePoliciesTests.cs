using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// The rules of policies.circuit_breaker and policies.retry (docs/resilience.md): every bad field
/// named, defaults (0 / unset) and the range ends accepted and kept.
/// </summary>
public sealed class ResiliencePoliciesTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    private static CreateApiRequest Create(ApiPolicies policies) => new()
    {
        Slug = CatalogFixture.UniqueSlug(),
        Name = "Weather",
        UpstreamUrl = "https://weather.example.com",
        Policies = policies,
    };

    [Fact]
    public async Task CreateApi_BadBreakerAndRetry_EveryBadFieldNamed()
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = Create(new ApiPolicies
        {
            CircuitBreaker = new CircuitBreakerPolicy
            {
                FailureRatio = 1.5,
                MinimumRequests = 100_001,
                WindowMs = 999,
                OpenMs = 600_001,
                HalfOpenProbes = 101,
                BackoffInitialMs = 99,
                BackoffMaxMs = 600_001,
            },
            Retry = new RetryPolicy { MaxRetries = 3, BudgetRatio = -0.1 },
        });

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(
            ["policies.circuit_breaker.backoff_initial_ms", "policies.circuit_breaker.backoff_max_ms", "policies.circuit_breaker.failure_ratio",
             "policies.circuit_breaker.half_open_probes", "policies.circuit_breaker.minimum_requests", "policies.circuit_breaker.open_ms",
             "policies.circuit_breaker.window_ms", "policies.retry.budget_ratio", "policies.retry.max_retries"],
            fields.Order(StringComparer.Ordinal).ToArray());
    }

    [Theory]
    [InlineData(double.NaN, 0, 0, "policies.circuit_breaker.failure_ratio")]
    [InlineData(-0.5, 0, 0, "policies.circuit_breaker.failure_ratio")]
    [InlineData(0.5, 5000, 4000, "policies.circuit_breaker.backoff_max_ms")]
    // A cap under the default first back-off (1000) is refused too.
    [InlineData(0.5, 0, 500, "policies.circuit_breaker.backoff_max_ms")]
    public async Task CreateApi_BadBreakerField_Named(double ratio, int backoffInitial, int backoffMax, string field)
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = Create(new ApiPolicies
        {
            CircuitBreaker = new CircuitBreakerPolicy { FailureRatio = ratio, BackoffInitialMs = backoffInitial, BackoffMaxMs = backoffMax },
        });

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal([field], fields);
    }

    [Fact]
    public async Task CreateApi_NaNBudget_Named()
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = Create(new ApiPolicies { Retry = new RetryPolicy { BudgetRatio = double.NaN, MaxRetries = -1 } });

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(["policies.retry.budget_ratio", "policies.retry.max_retries"], fields.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task CreateApi_RangeEndsAndDefaults_AcceptedAndKept()
    {
        var owner = await fixture.SignUpProviderAsync();
        var low = new CircuitBreakerPolicy
        {
            Enabled = true, FailureRatio = 1, MinimumRequests = 1, WindowMs = 1_000, OpenMs = 1_000, HalfOpenProbes = 1,
            BackoffInitialMs = 100, BackoffMaxMs = 100,
        };
        var high = new CircuitBreakerPolicy
        {
            FailureRatio = 0.01, MinimumRequests = 100_000, WindowMs = 600_000, OpenMs = 600_000, HalfOpenProbes = 100,
            BackoffInitialMs = 60_000, BackoffMaxMs = 600_000,
        };
        var created = (await Client.CreateApiAsync(Create(new ApiPolicies { CircuitBreaker = low, Retry = new RetryPolicy { MaxRetries = 0, BudgetRatio = 0 } }),
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(low, created.Policies.CircuitBreaker);
        Assert.Equal(0, created.Policies.Retry.MaxRetries);
        Assert.True(created.Policies.Retry.HasBudgetRatio);

        var updated = (await Client.UpdateApiAsync(new UpdateApiRequest
        {
            ApiId = created.Id,
            Policies = new ApiPolicies { CircuitBreaker = high, Retry = new RetryPolicy { Enabled = false, MaxRetries = 2, BudgetRatio = 1 } },
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(high, updated.Policies.CircuitBreaker);
        Assert.False(updated.Policies.Retry.Enabled);

        // Off, with every other field at its default.
        var off = (await Client.CreateApiAsync(Create(new ApiPolicies { CircuitBreaker = new CircuitBreakerPolicy { Enabled = false } }),
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.False(off.Policies.CircuitBreaker.Enabled);
    }
}
