using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Akka.Actor;

namespace Actors.Xmpp.PluginHost;

/// <summary>
/// The asker of the pages plugins deliver through <see cref="ISessionDelivery.Deliver"/>: a page's session answers
/// twice (written out, then, with XEP-0198, acknowledged), which one Ask cannot take. Each page gets an id, its two
/// promises are kept here by id until both are settled, and a page that is not answered in time counts as neither
/// written nor delivered (delivered again later by its plugin). One per actor system, made by the host.
/// </summary>
internal sealed class PageReceiptsActor : ReceiveActor, IWithTimers
{
    /// <summary>Hand <paramref name="Page"/> to the session of <paramref name="Resource"/> through the account's resources
    /// entity; settle <paramref name="Written"/> and <paramref name="Delivered"/> from its answers.</summary>
    public sealed record Send(Jid Resource, SessionMessages.DeliverPage Page, TaskCompletionSource<bool> Written,
        TaskCompletionSource<bool> Delivered, TimeSpan WriteTimeout, TimeSpan AcknowledgeTimeout);

    private sealed record Expired(long PageId, bool Acknowledgement);

    private sealed class Pending(Send send)
    {
        public readonly Send Send = send;
        public bool AwaitsAck;
        public bool WrittenSettled;
    }

    private readonly Dictionary<long, Pending> _pending = new();

    public ITimerScheduler Timers { get; set; } = null!;

    public PageReceiptsActor(IUserDirectory users)
    {
        Receive<Send>(m =>
        {
            _pending[m.Page.PageId] = new Pending(m);
            Timers.StartSingleTimer(m.Page.PageId, new Expired(m.Page.PageId, false), m.WriteTimeout);
            users.Tell(m.Resource.Bare, new AccountResourcesActor.DeliverPageTo(m.Resource, m.Page), Self);
        });
        Receive<SessionMessages.PageWritten>(m =>
        {
            if (!_pending.TryGetValue(m.PageId, out var p) || p.WrittenSettled) return;
            p.WrittenSettled = true;
            p.Send.Written.TrySetResult(m.Written);
            if (m.AwaitsAck && !p.Send.Delivered.Task.IsCompleted)
            {
                // XEP-0198: the acknowledgement may come on a resumed stream, so the wait covers the resumption window
                p.AwaitsAck = true;
                Timers.StartSingleTimer(m.PageId, new Expired(m.PageId, true), p.Send.AcknowledgeTimeout);
                return;
            }
            if (!m.AwaitsAck) p.Send.Delivered.TrySetResult(m.Written);
            Settle(m.PageId);
        });
        Receive<SessionMessages.PageAcknowledged>(m =>
        {
            if (!_pending.TryGetValue(m.PageId, out var p)) return;
            p.Send.Delivered.TrySetResult(m.Acknowledged);
            if (p.WrittenSettled) Settle(m.PageId); // else the write receipt is still to come (told in either order)
        });
        Receive<Expired>(m =>
        {
            if (!_pending.TryGetValue(m.PageId, out var p)) return;
            p.Send.Written.TrySetResult(false);
            p.Send.Delivered.TrySetResult(false); // not known to be delivered: delivered again later
            Settle(m.PageId);
        });
    }

    private void Settle(long pageId)
    {
        _pending.Remove(pageId);
        Timers.Cancel(pageId);
    }

    protected override void PostStop()
    {
        foreach (var p in _pending.Values)
        {
            p.Send.Written.TrySetResult(false);
            p.Send.Delivered.TrySetResult(false);
        }
        _pending.Clear();
    }
}
