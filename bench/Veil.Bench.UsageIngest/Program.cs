using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Veil.Testing;
using Veil.Usage.Data;
using Veil.Usage.Grpc;
using Veil.Usage.V1;

// dotnet run -c Release --project bench/Veil.Bench.UsageIngest -- [events] [batch] [concurrency] [all|grpc|store] [subscriptions]
// subscriptions (default 100, three keys each): how many contexts a batch spans; 1 with one key is
// what one key on one route sends, as in bench/metering.sh.
// Prints the ingest rate of new events over gRPC (1 and N concurrent shippers), of replays
// (all duplicates), and of the store alone (no gRPC), on a fresh database each.
// WebApplicationFactory looks for MvcTestingAppManifest.json (the service's content root) in
// the working directory, which `dotnet run` leaves at the caller's.
Directory.SetCurrentDirectory(AppContext.BaseDirectory);
var total = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200_000;
var batchSize = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000;
var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
var subscriptions = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 100;
var keysPerSubscription = subscriptions == 1 ? 1 : 3;
// Next to the binaries, not in /tmp, so fsync hits the real disk whatever /tmp is mounted on.
var root = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "bench-data")).FullName;

Console.WriteLine($"usage ingest benchmark: {total:N0} events, batches of {batchSize:N0}, {subscriptions} subscription(s), {Environment.ProcessorCount} cores, load average {LoadAverage()}, data under {root}");
Console.WriteLine("  (synchronous=FULL, WAL, one immediate transaction per batch)");

var only = args.Length > 3 ? args[3] : "all";
if (only is "all" or "grpc")
{
    await RunGrpcAsync("gRPC, 1 shipper, grouped (as edges ship)", 1, replay: true, grouped: true);
    await RunGrpcAsync("gRPC, 1 shipper, single events", 1, replay: false, grouped: false);
    await RunGrpcAsync($"gRPC, {concurrency} shippers, grouped", concurrency, replay: false, grouped: true);
}
if (only is "all" or "store")
{
    await RunStoreAsync("store only, 1 caller");
    await RunStoreAsync("store only, 1 caller, scattered ids", scattered: true);
}
Console.WriteLine($"load average at the end: {LoadAverage()}");
Directory.Delete(root, recursive: true);

async Task RunGrpcAsync(string name, int shippers, bool replay, bool grouped)
{
    await using var host = NewHost();
    using var channel = host.CreateGrpcChannel();
    var invoker = channel.CreateCallInvoker();
    var batches = grouped ? Batches().Select(b => IngestEventsRequest.Grouped(b.Events)).ToList() : Batches();
    foreach (var warmup in Warmup())
    {
        await SendAsync(invoker, Serialized(warmup));
    }

    // The batches go over the wire already serialised (as the edge's shipper would have them):
    // the process then spends its CPU on the server side, which is what is being measured.
    // By reference: a protobuf message's own hash code walks every event.
    var wire = new Dictionary<IngestEventsRequest, byte[]>(ReferenceEqualityComparer.Instance);
    foreach (var batch in batches)
    {
        wire[batch] = Serialized(batch);
    }
    var elapsed = await TimeAsync(batches, shippers, async batch =>
    {
        var response = await SendAsync(invoker, wire[batch]);
        Check(response.Accepted == batch.EventCount, "every event new");
    });
    Report(name, total, elapsed);
    if (replay)
    {
        var again = await TimeAsync(batches, shippers, async batch =>
        {
            var response = await SendAsync(invoker, wire[batch]);
            Check(response.Duplicates == batch.EventCount, "every event a duplicate");
        });
        Report(name + ", replay (all duplicates)", total, again);
    }
}

static byte[] Serialized(IngestEventsRequest request) => request.ToByteArray();

static Task<IngestEventsResponse> SendAsync(CallInvoker invoker, byte[] request) =>
    invoker.AsyncUnaryCall(IngestRaw, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60)), request).ResponseAsync;

async Task RunStoreAsync(string name, bool scattered = false)
{
    await using var host = NewHost();
    host.Start();
    var store = host.Services.GetRequiredService<UsageStore>();
    var batches = Batches(scattered).Select(b => IngestEventsRequest.Grouped(b.Events)).ToList();
    foreach (var warmup in Warmup())
    {
        await store.IngestAsync(warmup, CancellationToken.None);
    }
    var elapsed = await TimeAsync(batches, 1, async batch =>
    {
        var result = await store.IngestAsync(batch, CancellationToken.None);
        Check(result.Accepted == batch.EventCount, "every event new");
    });
    Report(name, total, elapsed);
}

ServiceHost<UsageGrpcService> NewHost()
{
    var data = Directory.CreateDirectory(Path.Combine(root, "run-" + Guid.NewGuid().ToString("N")[..8])).FullName;
    return new ServiceHost<UsageGrpcService>(data)
        .With("Logging:LogLevel:Default", "Warning")
        .With("Logging:LogLevel:Microsoft.AspNetCore.DataProtection", "Error")
        .With("Veil:Auth:Authority", "http://127.0.0.1:9");
}

// `subscriptions` subscriptions (default 100) with 3 keys each (1 when there is 1). Like an edge's spool, each batch holds the calls of one
// slice of the last 10 minutes, shuffled within the batch; `scattered` spreads every batch over
// the whole 10 minutes instead (the worst case for the id index: random inserts).
// Batches are built before timing so only ingest is measured.
List<IngestEventsRequest> Batches(bool scattered = false)
{
    var now = DateTimeOffset.UtcNow;
    var random = new Random(42);
    var start = Timestamp.FromDateTimeOffset(now.AddDays(-10));
    var list = new List<IngestEventsRequest>();
    var batches = total / batchSize;
    var slice = 600_000.0 / batches;
    for (var b = 0; b < batches; b++)
    {
        var request = new IngestEventsRequest();
        for (var i = 0; i < batchSize; i++)
        {
            var subscription = random.Next(subscriptions);
            var ago = scattered ? random.Next(600_000) : 600_000 - ((b + random.NextDouble()) * slice);
            var at = now.AddMilliseconds(-ago);
            request.Events.Add(new UsageEvent
            {
                EventId = Guid.CreateVersion7(at).ToString(),
                OccurredAt = Timestamp.FromDateTimeOffset(at),
                EdgeId = "edge-bench",
                ApiId = $"api_{subscription % 10:D20}",
                ProviderId = $"acc_p{subscription % 10:D19}",
                ConfigVersion = 3,
                KeyId = $"key_{subscription:D10}{random.Next(keysPerSubscription):D10}",
                ConsumerId = $"acc_c{subscription:D19}",
                SubscriptionId = $"sub_{subscription:D20}",
                PlanId = $"plan_{subscription % 5:D20}",
                Method = "GET",
                Route = "/weather/{**rest}",
                StatusCode = 200,
                LatencyMs = random.Next(1, 200),
                BytesIn = random.Next(0, 512),
                BytesOut = random.Next(100, 8192),
                Billable = random.Next(100) < 97,
                MonthlyQuota = 1_000_000_000,
                OverageAllowed = true,
                PricePerCallMinor = 1,
                Currency = "USD",
                SubscriptionStart = start,
            });
        }
        list.Add(request);
    }
    return list;
}

// Enough batches of both forms for the JIT to reach its optimised tier before timing starts.
List<IngestEventsRequest> Warmup() => Batches().Take(20).SelectMany(batch =>
{
    var request = new IngestEventsRequest();
    request.Events.AddRange(batch.Events.Select(e => { var copy = e.Clone(); copy.EventId = "warmup-" + e.EventId; return copy; }));
    var grouped = IngestEventsRequest.Grouped(request.Events);
    foreach (var group in grouped.Groups)
    {
        for (var i = 0; i < group.EventIds.Count; i++)
        {
            group.EventIds[i] = "warmup-g" + group.EventIds[i];
        }
    }
    return new[] { request, grouped };
}).ToList();

// Wall time, and the CPU time the whole process used meanwhile (server, client and background
// rollups): on a shared machine the second says what the code costs, whatever the neighbours do.
static async Task<(TimeSpan Wall, TimeSpan Cpu)> TimeAsync(List<IngestEventsRequest> batches, int parallel, Func<IngestEventsRequest, Task> send)
{
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var stopwatch = Stopwatch.StartNew();
    await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (batch, _) => await send(batch));
    var wall = stopwatch.Elapsed;
    process.Refresh();
    return (wall, process.TotalProcessorTime - cpu);
}

static void Report(string name, int events, (TimeSpan Wall, TimeSpan Cpu) elapsed) =>
    Console.WriteLine($"{name,-40} {events / elapsed.Wall.TotalSeconds,9:N0} events/s  {events / elapsed.Cpu.TotalSeconds,9:N0} events/CPU-s  ({elapsed.Wall.TotalMilliseconds,7:N0} ms wall, {elapsed.Cpu.TotalMilliseconds,7:N0} ms CPU)");

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

static void Check(bool condition, string what)
{
    if (!condition)
    {
        throw new InvalidOperationException("Benchmark invariant broken: " + what);
    }
}

// UsageService/IngestEvents with a pass-through request marshaller.
internal static partial class Program
{
    private static readonly Method<byte[], IngestEventsResponse> IngestRaw = new(
        MethodType.Unary, UsageService.Descriptor.FullName, "IngestEvents",
        Marshallers.Create(bytes => bytes, bytes => bytes),
        Marshallers.Create(response => response.ToByteArray(), IngestEventsResponse.Parser.ParseFrom));
}
