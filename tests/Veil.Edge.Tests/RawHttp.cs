using System.Net.Sockets;
using System.Text;

namespace Veil.Edge.Tests;

/// <summary>
/// One HTTP/1.1 request written by hand on its own connection (<c>Connection: close</c>), for what
/// HttpClient will not send: it canonicalises <c>get</c> to <c>GET</c> before the wire.
/// </summary>
public static class RawHttp
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>The status, the response headers (names lower-cased, repeated values joined by ", ") and the raw body.</summary>
    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body);

    /// <summary>Sends the request; with <paramref name="chunkedBodyBytes"/>, a body of that many bytes in 16 KiB chunks.</summary>
    public static async Task<Response> SendAsync(Uri server, string method, string pathAndQuery, IEnumerable<(string Name, string Value)> headers,
        long? chunkedBodyBytes = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(Bound);
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port, cts.Token);
        var stream = client.GetStream();
        var request = new StringBuilder()
            .Append(method).Append(' ').Append('/').Append(pathAndQuery.TrimStart('/')).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(server.Authority).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            request.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        request.Append(chunkedBodyBytes is null ? "Content-Length: 0\r\n" : "Transfer-Encoding: chunked\r\n").Append("Connection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()), cts.Token);
        // The body goes up while the response is read, as curl does: a server may answer (and stop
        // reading) before the body's end.
        var upload = chunkedBodyBytes is { } total ? UploadChunkedAsync(stream, total, cts.Token) : Task.CompletedTask;

        using var received = new MemoryStream();
        try
        {
            await stream.CopyToAsync(received, cts.Token);
        }
        catch (IOException) when (received.Length > 0)
        {
            // Reset after the response, for the body the server did not read.
        }
        await upload;
        var text = Encoding.UTF8.GetString(received.ToArray());
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, $"no complete response head: {text}");
        var lines = text[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var parsed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            parsed[name] = parsed.TryGetValue(name, out var before) ? before + ", " + value : value;
        }
        return new Response(status, parsed, text[(end + 4)..]);
    }

    private static async Task UploadChunkedAsync(Stream stream, long total, CancellationToken cancellationToken)
    {
        var chunk = new byte[16 * 1024];
        var header = Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n");
        var crlf = "\r\n"u8.ToArray();
        try
        {
            for (long sent = 0; sent < total; sent += chunk.Length)
            {
                await stream.WriteAsync(header, cancellationToken);
                await stream.WriteAsync(chunk, cancellationToken);
                await stream.WriteAsync(crlf, cancellationToken);
            }
            await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), cancellationToken);
        }
        catch (IOException)
        {
            // The server stopped reading and closed: what it answered is what counts.
        }
    }
}
