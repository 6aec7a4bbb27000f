using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.PubSub;

/// <summary>
/// A leaf node's configuration (XEP-0060 §8.2, §16.4.4 pubsub#node_config): exactly the fields this service honours.
/// Immutable; <see cref="TryApply"/> makes a changed copy from a submitted XEP-0004 form.
/// </summary>
public sealed record NodeConfig
{
    public const string FieldPrefix = "pubsub#";
    public const string Title = "pubsub#title";
    public const string Description = "pubsub#description";
    public const string PayloadType = "pubsub#type";
    public const string MaxItems = "pubsub#max_items";
    public const string PersistItems = "pubsub#persist_items";
    public const string DeliverPayloads = "pubsub#deliver_payloads";
    public const string DeliverNotifications = "pubsub#deliver_notifications";
    public const string NotifyRetract = "pubsub#notify_retract";
    public const string NotifyDelete = "pubsub#notify_delete";
    public const string NotifyConfig = "pubsub#notify_config";
    public const string AccessModel = "pubsub#access_model";
    public const string PublishModel = "pubsub#publish_model";
    public const string SendLastPublishedItem = "pubsub#send_last_published_item";
    public const string MaxPayloadSize = "pubsub#max_payload_size";
    public const string NotificationType = "pubsub#notification_type";
    public const string ItemExpire = "pubsub#item_expire";
    /// <summary>§16.4.4 (list-multi): the roster groups whose members may access a node with the roster model.</summary>
    public const string RosterGroupsAllowed = "pubsub#roster_groups_allowed";
    /// <summary>XEP-0248 §7.2: "leaf" or "collection".</summary>
    public const string NodeType = "pubsub#node_type";
    /// <summary>XEP-0248 §7.2: the node's parent collection; empty: the root (the service itself).</summary>
    public const string Collection = "pubsub#collection";
    /// <summary>XEP-0248 §7.2: a collection's children (kept by the collection as association events, not in this record).</summary>
    public const string Children = "pubsub#children";
    /// <summary>pubsub#max_items: the service's own limit (XEP-0060 §16.4.4 "max").</summary>
    public const string Max = "max";

    public string TitleText { get; init; } = "";
    public string DescriptionText { get; init; } = "";
    public string Type { get; init; } = "";
    /// <summary>Items kept; null is "max" (the service's limit, <see cref="PubSubOptions.MaxItemsPerNode"/>).</summary>
    public int? MaxItemsValue { get; init; } = 10;
    public bool Persist { get; init; } = true;
    public bool Payloads { get; init; } = true;
    public bool Notifications { get; init; } = true;
    public bool Retract { get; init; } = true;
    public bool Delete { get; init; } = true;
    public bool Config { get; init; } = true;
    public string Access { get; init; } = AccessModels.Open;
    public string Publish { get; init; } = PublishModels.Publishers;
    public string SendLast { get; init; } = SendLastPublished.OnSub;
    /// <summary>Bytes of one item's payload; null: the service's limit.</summary>
    public int? PayloadLimit { get; init; }
    public string MessageType { get; init; } = "headline";
    /// <summary>Seconds after its publication an item is removed; null: never (pubsub#item_expire).</summary>
    public int? ExpireSeconds { get; init; }
    /// <summary>pubsub#roster_groups_allowed (for the roster access model).</summary>
    public string[] RosterGroups { get; init; } = [];
    /// <summary>pubsub#node_type (<see cref="NodeTypes"/>).</summary>
    public string Kind { get; init; } = NodeTypes.Leaf;
    /// <summary>pubsub#collection: the parent collection's node name; "" for the root (XEP-0248 §8.1).</summary>
    public string Parent { get; init; } = "";

    public bool IsCollection => Kind == NodeTypes.Collection;

    /// <summary>Whether <paramref name="item"/> has outlived pubsub#item_expire at <paramref name="now"/>.</summary>
    public bool Expired(PublishedItem item, DateTimeOffset now) => ExpireSeconds is { } s && item.At.AddSeconds(s) <= now;

    /// <summary>XEP-0163 PEP nodes: presence access, the last item to contacts coming online, one item.</summary>
    public static readonly NodeConfig PepDefaults = new()
    {
        Access = AccessModels.Presence, SendLast = SendLastPublished.OnSubAndPresence, MaxItemsValue = 1,
    };

    /// <summary>The items kept under the service's limit.</summary>
    public int ItemLimit(int serviceMax) => MaxItemsValue is { } n ? Math.Min(n, serviceMax) : serviceMax;

    public int PayloadBytes(int serviceMax) => PayloadLimit is { } n ? Math.Min(n, serviceMax) : serviceMax;

    private static readonly string[] AccessValues = [AccessModels.Open, AccessModels.Presence, AccessModels.Roster, AccessModels.Whitelist, AccessModels.Authorize];
    private static readonly string[] PublishValues = [PublishModels.Publishers, PublishModels.Subscribers, PublishModels.Open];
    private static readonly string[] SendLastValues = [SendLastPublished.Never, SendLastPublished.OnSub, SendLastPublished.OnSubAndPresence];
    private static readonly string[] MessageTypes = ["headline", "normal"];
    private static readonly string[] KindValues = [NodeTypes.Leaf, NodeTypes.Collection];

    /// <summary>The value of a field as a form or the journal shows it.</summary>
    public string? ValueOf(string var) => var switch
    {
        Title => TitleText,
        Description => DescriptionText,
        PayloadType => Type,
        MaxItems => MaxItemsValue is { } n ? n.ToString(CultureInfo.InvariantCulture) : Max,
        PersistItems => Bool(Persist),
        DeliverPayloads => Bool(Payloads),
        DeliverNotifications => Bool(Notifications),
        NotifyRetract => Bool(Retract),
        NotifyDelete => Bool(Delete),
        NotifyConfig => Bool(Config),
        AccessModel => Access,
        PublishModel => Publish,
        SendLastPublishedItem => SendLast,
        MaxPayloadSize => PayloadLimit?.ToString(CultureInfo.InvariantCulture),
        NotificationType => MessageType,
        ItemExpire => ExpireSeconds?.ToString(CultureInfo.InvariantCulture),
        RosterGroupsAllowed => string.Join('\n', RosterGroups), // a list-multi: one value a line
        NodeType => Kind,
        Collection => Parent,
        _ => null,
    };

    private static readonly string[] Fields =
    [
        Title, Description, PayloadType, MaxItems, PersistItems, DeliverPayloads, DeliverNotifications, NotifyRetract,
        NotifyDelete, NotifyConfig, AccessModel, PublishModel, SendLastPublishedItem, MaxPayloadSize, NotificationType, ItemExpire,
        RosterGroupsAllowed, NodeType, Collection,
    ];

    private static string Bool(bool b) => b ? "1" : "0";

    /// <summary>Sets one field from text; false (with a reason) when the value is not one this service accepts.</summary>
    public bool TrySet(string var, string value, PubSubOptions limits, out NodeConfig changed, out string? reason)
    {
        changed = this;
        reason = null;
        switch (var)
        {
            case Title: changed = this with { TitleText = value }; return true;
            case Description: changed = this with { DescriptionText = value }; return true;
            case PayloadType: changed = this with { Type = value }; return true;
            case MaxItems:
                if (value == Max) { changed = this with { MaxItemsValue = null }; return true; }
                if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= limits.MaxItemsPerNode)
                {
                    changed = this with { MaxItemsValue = n };
                    return true;
                }
                reason = $"{MaxItems} must be 'max' or 1 to {limits.MaxItemsPerNode}";
                return false;
            case MaxPayloadSize:
                if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes >= 1 && bytes <= limits.MaxPayloadBytes)
                {
                    changed = this with { PayloadLimit = bytes };
                    return true;
                }
                reason = $"{MaxPayloadSize} must be 1 to {limits.MaxPayloadBytes}";
                return false;
            case RosterGroupsAllowed:
                var groups = new List<string>();
                foreach (var line in value.Split('\n'))
                    if (line.Trim() is { Length: > 0 } group && !groups.Contains(group)) groups.Add(group);
                changed = this with { RosterGroups = groups.ToArray() };
                return true;
            case NodeType when Array.IndexOf(KindValues, value) >= 0: changed = this with { Kind = value }; return true;
            case Collection: changed = this with { Parent = value.Trim() }; return true;
            case Children: return true; // checked by the node against its associations (NodeEntity), never kept here
            case AccessModel when Array.IndexOf(AccessValues, value) >= 0: changed = this with { Access = value }; return true;
            case PublishModel when Array.IndexOf(PublishValues, value) >= 0: changed = this with { Publish = value }; return true;
            case SendLastPublishedItem when Array.IndexOf(SendLastValues, value) >= 0: changed = this with { SendLast = value }; return true;
            case NotificationType when Array.IndexOf(MessageTypes, value) >= 0: changed = this with { MessageType = value }; return true;
            case ItemExpire:
                if (value.Length == 0) { changed = this with { ExpireSeconds = null }; return true; }
                if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds >= 1)
                {
                    changed = this with { ExpireSeconds = seconds };
                    return true;
                }
                reason = $"{ItemExpire} is a number of seconds (1 or more), or empty for never";
                return false;
            case PersistItems or DeliverPayloads or DeliverNotifications or NotifyRetract or NotifyDelete or NotifyConfig:
                if (!TryBool(value, out var b))
                {
                    reason = $"{var} is a boolean";
                    return false;
                }
                changed = var switch
                {
                    PersistItems => this with { Persist = b },
                    DeliverPayloads => this with { Payloads = b },
                    DeliverNotifications => this with { Notifications = b },
                    NotifyRetract => this with { Retract = b },
                    NotifyDelete => this with { Delete = b },
                    _ => this with { Config = b },
                };
                return true;
            default:
                reason = Array.IndexOf(Fields, var) >= 0 ? $"'{value}' is not a value of {var} this service supports" : $"{var} is not a field this service supports";
                return false;
        }
    }

    /// <summary>The values of a list-multi field, one a line (as <see cref="TrySet"/> reads them).</summary>
    public static string MultiValue(Element field)
    {
        var values = new List<string>();
        foreach (var v in field.Elements("value", Ns.DataForms)) values.Add(v.Text.Replace('\n', ' '));
        return string.Join('\n', values);
    }

    /// <summary>XEP-0004 boolean: "1"/"true" or "0"/"false".</summary>
    public static bool TryBool(string value, out bool b)
    {
        b = value is "1" or "true";
        return b || value is "0" or "false";
    }

    /// <summary>
    /// Applies a submitted pubsub#node_config form (XEP-0060 §8.2.4): every field but FORM_TYPE must be one this
    /// service honours, with a valid value. A form of type 'cancel' changes nothing. Null with a reason otherwise.
    /// </summary>
    public NodeConfig? TryApply(Element form, PubSubOptions limits, out string? reason)
    {
        reason = null;
        var type = form.Attr("type");
        if (type == "cancel") return this;
        if (type != "submit")
        {
            reason = "the form must be of type 'submit'";
            return null;
        }
        var formType = FormType(form);
        if (formType is not null && formType != PubSubNs.NodeConfig)
        {
            reason = "FORM_TYPE must be " + PubSubNs.NodeConfig;
            return null;
        }
        var config = this;
        foreach (var field in form.Elements("field", Ns.DataForms))
        {
            var var = field.Attr("var");
            if (var is null or "FORM_TYPE") continue;
            var value = var is RosterGroupsAllowed or Children ? MultiValue(field) : field.ChildText("value", Ns.DataForms) ?? "";
            if (!config.TrySet(var, value, limits, out config, out reason)) return null;
        }
        return config;
    }

    /// <summary>The FORM_TYPE of an XEP-0004 form, or null.</summary>
    public static string? FormType(Element form)
    {
        foreach (var field in form.Elements("field", Ns.DataForms))
            if (field.Attr("var") == "FORM_TYPE") return field.ChildText("value", Ns.DataForms);
        return null;
    }

    /// <summary>The value of one field of a submitted form, or null when the form has no such field.</summary>
    public static string? FieldValue(Element form, string var)
    {
        foreach (var field in form.Elements("field", Ns.DataForms))
            if (field.Attr("var") == var) return var is RosterGroupsAllowed or Children ? MultiValue(field) : field.ChildText("value", Ns.DataForms) ?? "";
        return null;
    }

    /// <summary>The XEP-0004 form of this configuration (type 'form' to fill in, XEP-0060 §8.2.1), with a
    /// collection's <paramref name="children"/> (XEP-0248 §7.2).</summary>
    public Element Form(string type = "form", IReadOnlyList<string>? children = null)
    {
        var x = new Element("x", Ns.DataForms).SetAttr("type", type);
        x.Add(Field("FORM_TYPE", "hidden", null, PubSubNs.NodeConfig));
        x.Add(Field(Title, "text-single", "A friendly name for the node", TitleText));
        x.Add(Field(Description, "text-single", "A description of the node", DescriptionText));
        x.Add(Field(PayloadType, "text-single", "The type of node data, usually specified by the namespace of the payload", Type));
        x.Add(Field(MaxItems, "text-single", "Max # of items to persist ('max' for the service's limit)", ValueOf(MaxItems)));
        x.Add(Field(PersistItems, "boolean", "Persist items to storage", ValueOf(PersistItems)));
        x.Add(Field(DeliverPayloads, "boolean", "Deliver payloads with event notifications", ValueOf(DeliverPayloads)));
        x.Add(Field(DeliverNotifications, "boolean", "Deliver event notifications", ValueOf(DeliverNotifications)));
        x.Add(Field(NotifyRetract, "boolean", "Notify subscribers when items are removed from the node", ValueOf(NotifyRetract)));
        x.Add(Field(NotifyDelete, "boolean", "Notify subscribers when the node is deleted", ValueOf(NotifyDelete)));
        x.Add(Field(NotifyConfig, "boolean", "Notify subscribers when the node configuration changes", ValueOf(NotifyConfig)));
        x.Add(Options(Field(AccessModel, "list-single", "Specify the subscriber model", Access), AccessValues));
        x.Add(Options(Field(PublishModel, "list-single", "Specify the publisher model", Publish), PublishValues));
        x.Add(Options(Field(SendLastPublishedItem, "list-single", "When to send the last published item", SendLast), SendLastValues));
        x.Add(Field(MaxPayloadSize, "text-single", "Max payload size in bytes", PayloadLimit?.ToString(CultureInfo.InvariantCulture)));
        x.Add(Options(Field(NotificationType, "list-single", "Specify the event notification type", MessageType), MessageTypes));
        x.Add(Field(ItemExpire, "text-single", "Number of seconds after which to automatically purge items", ValueOf(ItemExpire)));
        var groups = Field(RosterGroupsAllowed, "list-multi", "Roster groups allowed to subscribe", null);
        foreach (var g in RosterGroups) groups.Add(new Element("value", Ns.DataForms).AddText(g));
        x.Add(groups);
        x.Add(Options(Field(NodeType, "list-single", "Whether the node is a leaf (default) or a collection", Kind), KindValues));
        x.Add(Field(Collection, "text-single", "The collection with which the node is affiliated (empty: the root)", Parent));
        if (IsCollection)
        {
            var list = Field(Children, "text-multi", "The child nodes (leaf or collection) associated with the collection", null);
            foreach (var c in children ?? []) list.Add(new Element("value", Ns.DataForms).AddText(c));
            x.Add(list);
        }
        return x;
    }

    /// <summary>The configuration as the journal keeps it: &lt;config&gt;&lt;field var='...'&gt;value&lt;/field&gt;...</summary>
    public Element ToElement()
    {
        var config = new Element("config", PubSubNs.Internal);
        foreach (var var in Fields)
            if (ValueOf(var) is { } value) config.Add(new Element("field", PubSubNs.Internal).SetAttr("var", var).AddText(value));
        return config;
    }

    /// <summary>The configuration a journal element stands for (values written by this class; unknown fields ignored).</summary>
    public static NodeConfig FromElement(Element config)
    {
        var c = new NodeConfig();
        var limits = PubSubOptions.Unlimited; // the journal holds what was accepted then; today's limits apply on use
        foreach (var field in config.Elements("field", PubSubNs.Internal))
            if (field.Attr("var") is { } var && c.TrySet(var, field.Text, limits, out var next, out _)) c = next;
        return c;
    }

    private static Element Field(string var, string type, string? label, string? value)
    {
        var f = new Element("field", Ns.DataForms).SetAttr("var", var).SetAttr("type", type).SetAttr("label", label);
        if (value is not null) f.Add(new Element("value", Ns.DataForms).AddText(value));
        return f;
    }

    private static Element Options(Element field, string[] values)
    {
        foreach (var v in values) field.Add(new Element("option", Ns.DataForms).Add(new Element("value", Ns.DataForms).AddText(v)));
        return field;
    }
}

/// <summary>XEP-0248 pubsub#node_type values.</summary>
public static class NodeTypes
{
    public const string Leaf = "leaf";
    public const string Collection = "collection";
}
