using Actors.Xmpp.Transport.Connections;

namespace Actors.Xmpp.Tests.Transport;

/// <summary>What a connection does about the bytes its peer has not taken (RFC 6120 §13.12: a peer that does not read
/// must not make the server buffer without bound; one that reads, if slower than it sends, is held back instead).</summary>
public sealed class OutboundPressureSpec
{
    private static readonly TransportOptions Options = new() { MaxOutboundBytes = 1024 * 1024, OutboundStall = TimeSpan.FromMilliseconds(200) };

    [Fact]
    public void Reading_pauses_past_a_quarter_of_the_bound_and_goes_on_once_half_of_that_is_written()
    {
        var pressure = new OutboundPressure(Options);
        Assert.Null(pressure.ReadingMayGoOn(256 * 1024));
        var paused = pressure.ReadingMayGoOn(256 * 1024 + 1);
        Assert.NotNull(paused);
        Assert.Same(paused, pressure.ReadingMayGoOn(300 * 1024)); // one wait, however often the reader looks
        pressure.Written(128 * 1024 + 1);
        Assert.False(paused.IsCompleted);
        pressure.Written(128 * 1024);
        Assert.True(paused.IsCompleted);
        Assert.Null(pressure.ReadingMayGoOn(100 * 1024));
    }

    [Fact]
    public void Closing_wakes_a_paused_reader()
    {
        var pressure = new OutboundPressure(Options);
        var paused = pressure.ReadingMayGoOn(512 * 1024)!;
        pressure.Closed();
        Assert.True(paused.IsCompleted);
    }

    [Fact]
    public async Task Rfc6120_13_12_past_the_bound_a_peer_is_dropped_once_it_took_nothing_for_the_stall_time_or_at_four_times_the_bound()
    {
        var pressure = new OutboundPressure(Options);
        pressure.WriterStarted();
        Assert.False(pressure.Overflowing(1024 * 1024));
        Assert.False(pressure.Overflowing(2 * 1024 * 1024)); // over the bound, but it took something just now
        Assert.True(pressure.Overflowing(4L * 1024 * 1024 + 1)); // whatever it does
        await Task.Delay(300);
        Assert.True(pressure.Overflowing(1024 * 1024 + 1)); // nothing taken for longer than the stall time
        pressure.Written(1024 * 1024 + 1);
        Assert.False(pressure.Overflowing(1024 * 1024 + 1)); // it reads again
    }
}
