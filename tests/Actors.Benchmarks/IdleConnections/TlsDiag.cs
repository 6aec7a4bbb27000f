using System.Net.Security;
using System.Reflection;
using Actors.Xmpp.Transport.Connections;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>
/// <c>--diag</c>: what the idle <see cref="SslStream"/>s hold, read through reflection over the runtime's private
/// fields (.NET 10 layout: SslStream._buffer is an SslBuffer struct around an ArrayBuffer). Prints one line per
/// distinct state with its count: the negotiated protocol, the size of the read buffer array held (0 = none),
/// its active, decrypted and encrypted byte counts, and the TLS record type of the first buffered encrypted byte.
/// Diagnostic only; returns nothing if the runtime layout differs.
/// </summary>
internal static class TlsDiag
{
    private const BindingFlags Private = BindingFlags.NonPublic | BindingFlags.Instance;

    public static void Print(IEnumerable<SocketConnection> connections)
    {
        var tlsField = typeof(SocketConnection).GetField("_tls", Private);
        var bufferField = typeof(SslStream).GetField("_buffer", Private);
        if (tlsField is null || bufferField is null)
        {
            Console.WriteLine("  diag: fields not found");
            return;
        }
        var sslBufferType = bufferField.FieldType;
        var arrayBufferField = sslBufferType.GetField("_buffer", Private)!;
        var decryptedField = sslBufferType.GetField("_decryptedLength", Private)!;
        var paddingField = sslBufferType.GetField("_decryptedPadding", Private)!;
        var abType = arrayBufferField.FieldType;
        var bytesField = abType.GetField("_bytes", Private)!;
        var activeStartField = abType.GetField("_activeStart", Private)!;
        var availableStartField = abType.GetField("_availableStart", Private)!;

        var states = new Dictionary<string, int>();
        foreach (var c in connections)
        {
            if (tlsField.GetValue(c) is not SslStream tls) continue;
            var sslBuffer = bufferField.GetValue(tls)!;
            var ab = arrayBufferField.GetValue(sslBuffer)!;
            var bytes = (byte[])bytesField.GetValue(ab)!;
            var active = (int)availableStartField.GetValue(ab)! - (int)activeStartField.GetValue(ab)!;
            var decrypted = (int)decryptedField.GetValue(sslBuffer)!;
            var padding = (int)paddingField.GetValue(sslBuffer)!;
            var encrypted = active - decrypted - padding;
            var firstType = encrypted > 0 ? bytes[(int)activeStartField.GetValue(ab)! + decrypted + padding].ToString(System.Globalization.CultureInfo.InvariantCulture) : "-";
            string protocol;
            try { protocol = tls.SslProtocol.ToString(); }
            catch (ObjectDisposedException) { protocol = "disposed"; }
            var socket = (System.Net.Sockets.Socket)typeof(SocketConnection).GetField("_socket", Private)!.GetValue(c)!;
            int available;
            try { available = socket.Available; }
            catch (ObjectDisposedException) { available = -1; }
            var key = $"{protocol} array={bytes.Length} active={active} decrypted={decrypted} encrypted={encrypted} firstRecordType={firstType} socketAvailable={available}";
            states[key] = states.GetValueOrDefault(key) + 1;
        }
        foreach (var (key, count) in states.OrderByDescending(kv => kv.Value))
            Console.WriteLine($"  diag: {count,6} x {key}");
    }
}
