using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Sql;

namespace Actors.Xmpp.Persistence;

public static class XmppPersistenceHostingExtensions
{
    /// <summary>
    /// Journal, snapshot store and query journal (Akka.Persistence.Sql on SQLite or PostgreSQL, CSV tags), the event
    /// serializer and the tagging adapter. Creates the SQLite file (WAL) if needed; PostgreSQL tables are created on
    /// first use.
    /// </summary>
    public static AkkaConfigurationBuilder WithXmppPersistence(this AkkaConfigurationBuilder builder,
        XmppPersistenceOptions options, string dataDir)
    {
        XmppPersistenceConfig.PrepareDatabase(options, dataDir);
        builder.AddHocon(XmppPersistenceConfig.Own(options, dataDir), HoconAddMode.Prepend);
        builder.AddHocon(SqlPersistence.DefaultConfiguration, HoconAddMode.Append);
        return builder;
    }
}

/// <summary>A small actor system with only the persistence configuration: the offline CLI and the event-log tool.</summary>
public static class PersistenceActorSystem
{
    /// <param name="readOnly">For tools that only read: the database must exist and is opened read-only (SQLite).</param>
    public static ActorSystem Create(string name, XmppPersistenceOptions options, string dataDir, bool lenientReads = false, bool readOnly = false)
    {
        if (readOnly) XmppPersistenceConfig.RequireExistingDatabase(options, dataDir);
        else XmppPersistenceConfig.PrepareDatabase(options, dataDir);
        var basics = ConfigurationFactory.ParseString("""
            akka.loglevel = WARNING
            akka.stdout-loglevel = WARNING
            akka.log-dead-letters = off
            akka.log-dead-letters-during-shutdown = off
            akka.coordinated-shutdown.run-by-clr-shutdown-hook = off
            akka.actor.ask-timeout = 30s
            """);
        return ActorSystem.Create(name, basics.WithFallback(XmppPersistenceConfig.Build(options, dataDir, lenientReads, readOnly)));
    }
}
