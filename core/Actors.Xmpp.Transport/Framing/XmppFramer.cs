using System.Buffers;
using System.Text;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Transport.Framing;

/// <summary>
/// Incremental, hostile-input-safe XML push parser for one XMPP stream (RFC 6120 §11 "restricted XML").
/// <para>
/// Bytes are fed in any chunking; a hand-written state machine finds token boundaries (tags, text runs, CDATA sections,
/// the XML declaration) and parses each token once it is complete. A token that is entirely inside one fed chunk is parsed
/// in place; only a token that straddles chunks is copied into a buffer rented from <see cref="ArrayPool{T}"/>, which is
/// returned as soon as the token is complete, so an idle framer between stanzas holds no byte buffer.
/// </para>
/// <para>
/// Error mapping (all errors are fatal; the framer then ignores input until <see cref="Reset"/>):
/// invalid UTF-8 and characters outside the XML 1.0 Char production (whether literal or via a character reference) are
/// <see cref="FramerErrorCondition.NotWellFormed"/>; <see cref="FramerErrorCondition.InvalidXml"/> is never raised.
/// Comments, processing instructions other than the initial XML declaration, and any &lt;!DOCTYPE/&lt;!ENTITY-style markup
/// declaration are <see cref="FramerErrorCondition.RestrictedXml"/>. Undeclared prefixes and illegal namespace declarations
/// are <see cref="FramerErrorCondition.BadNamespacePrefix"/>. Limits are <see cref="FramerErrorCondition.PolicyViolation"/>.
/// Whitespace between stanzas (keepalives) is ignored; any other character data at depth 1, including character
/// references and CDATA sections, is not-well-formed. After the root end tag only whitespace is accepted.
/// </para>
/// Not thread-safe: one framer per connection, fed by one reader.
/// </summary>
public sealed class XmppFramer
{
    private enum State : byte
    {
        Start,      // nothing consumed yet: optional BOM
        Bom,        // inside the UTF-8 BOM
        Prolog,     // before the root: whitespace or '<'
        LtSeen,     // after '<', classifying the markup
        Bang,       // after "<!"
        CdataOpen,  // matching "[CDATA[" (progress in _match)
        CdataBody,  // inside a CDATA section (count of trailing ']' in _match)
        Decl,       // inside "<?...", looking for "?>"
        Tag,        // inside a start or end tag, looking for '>' outside quotes (_quote)
        Text,       // character data inside a stanza
        Between,    // directly inside the root: whitespace or '<'
        AfterRoot,  // the root is closed: whitespace only
    }

    private enum TextMode : byte { Text, Cdata, Attr }

    private const string XmlNs = "http://www.w3.org/XML/1998/namespace";
    private const string XmlnsNs = "http://www.w3.org/2000/xmlns/";

    /// <summary>Namespace bindings in scope at once (prefix lookups are linear, so this bounds their cost). Real streams use a
    /// handful; one default-namespace declaration per level of a <see cref="FramerLimits.MaxDepth"/>-deep tree fits easily.</summary>
    private const int MaxBindings = 256;

    private static readonly SearchValues<byte> TagStops = SearchValues.Create("<>\"'"u8);
    private static readonly SearchValues<byte> TextStops = SearchValues.Create("<"u8);

    /// <summary>Bytes that need no decoding work in text or attribute values: printable ASCII except '&amp;', '&lt;' and ']'.</summary>
    private static readonly SearchValues<byte> PlainAscii = CreatePlainAscii();

    private struct Frame
    {
        public Element? El;      // null for the root
        public string? Prefix;   // prefix as written on the wire (for end-tag matching), null when unprefixed
        public string Local;
        public int BindMark;     // _bindCount before this element's declarations
        public int Children;     // child elements so far (bounded by FramerLimits.MaxChildren)
    }

    private struct RawAttr
    {
        public int PStart, PLen, LStart, LLen, VStart, VLen;
        public bool IsDecl;
    }

    private sealed class FramerException(FramerErrorCondition condition, string message) : Exception(message)
    {
        public FramerErrorCondition Condition { get; } = condition;
    }

    private readonly IFramerSink _sink;
    private readonly int _maxBytesLimit;
    private int _maxBytes;
    private readonly int _maxDepth;
    private readonly int _maxAttributes;
    private readonly int _maxChildren;
    private readonly int _maxElements;
    private int _elements;       // elements of the current stanza so far

    private State _state;
    private bool _faulted;
    private int _gen;            // incremented by Reset(), to detect a reset from inside a callback
    private int _count;          // bytes of the current limited region (decl, root start tag, stanza)
    private bool _declAllowed;
    private byte _quote;
    private bool _endTag;
    private int _match;

    // the token being scanned: starts at _tokStart in the current chunk, or continues _buf[.._bufLen]
    private bool _tok;
    private int _tokStart;
    private byte[]? _buf;
    private int _bufLen;

    private Frame[] _frames = new Frame[4];
    private int _depth;          // open elements, including the root

    private string[] _bindPrefix = new string[4];
    private string[] _bindUri = new string[4];
    private int _bindCount;

    private RawAttr[] _attrs = new RawAttr[8];

    // character data of the current element not yet added to it: text and CDATA runs are joined here so that
    // alternating text and CDATA sections cost linear, not quadratic, time
    private string? _pendingText;
    private StringBuilder? _pendingBuilder;

    public XmppFramer(IFramerSink sink, FramerLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(sink);
        _sink = sink;
        limits ??= new FramerLimits();
        if (limits.MaxStanzaBytes < 64) throw new ArgumentOutOfRangeException(nameof(limits), "MaxStanzaBytes must be at least 64");
        if (limits.MaxDepth < 1) throw new ArgumentOutOfRangeException(nameof(limits), "MaxDepth must be at least 1");
        if (limits.MaxAttributes < 1 || limits.MaxChildren < 1 || limits.MaxElements < 1)
            throw new ArgumentOutOfRangeException(nameof(limits), "MaxAttributes, MaxChildren and MaxElements must be at least 1");
        _maxBytesLimit = _maxBytes = limits.MaxStanzaBytes;
        _maxDepth = limits.MaxDepth;
        _maxAttributes = limits.MaxAttributes;
        _maxChildren = limits.MaxChildren;
        _maxElements = limits.MaxElements;
    }

    /// <summary>The stanza limit in force (from the next stanza on): at least 64 and at most the limit the framer was
    /// made with. A stream lowers it before authentication and raises it back after (XEP-0205 §2, pre-authentication limits).</summary>
    public int MaxStanzaBytes
    {
        get => _maxBytes;
        set => _maxBytes = Math.Clamp(value, 64, _maxBytesLimit);
    }

    /// <summary>True while a stanza has begun (its '&lt;' arrived) and is not complete: what a deadline to complete a
    /// stanza watches (a peer trickling one byte at a time keeps a partial stanza otherwise).</summary>
    public bool StanzaInProgress => !_faulted && (_depth >= 2 || (_depth == 1 && _state != State.Between));

    /// <summary>True after an error, until <see cref="Reset"/>.</summary>
    public bool Faulted => _faulted;

    /// <summary>Bytes held in the rented carry-over buffer (0 whenever no token straddles a Feed boundary); for tests.</summary>
    internal int BufferedBytes => _buf?.Length ?? 0;

    /// <summary>Back to expecting a new stream header (stream restart after STARTTLS / SASL success); buffers are released.</summary>
    public void Reset()
    {
        _gen++;
        Clear();
        _faulted = false;
    }

    public void Feed(ReadOnlySpan<byte> data)
    {
        if (_faulted || data.IsEmpty) return;
        try
        {
            Run(data);
        }
        catch (FramerException e)
        {
            _faulted = true;
            Clear();
            _sink.OnError(e.Condition, e.Message);
        }
    }

    private void Clear()
    {
        ReleaseToken();
        Array.Clear(_frames, 0, _depth);
        _depth = 0;
        Array.Clear(_bindPrefix, 0, _bindCount);
        Array.Clear(_bindUri, 0, _bindCount);
        _bindCount = 0;
        Trim();
        _state = State.Start;
        _count = 0;
        _declAllowed = false;
        _quote = 0;
        _match = 0;
        _endTag = false;
        _elements = 0;
    }

    // ---- the byte-level state machine --------------------------------------------------------------------------

    private void Run(ReadOnlySpan<byte> data)
    {
        if (_tok) _tokStart = 0;
        var i = 0;
        var n = data.Length;
        while (i < n)
        {
            if (_faulted) return;
            switch (_state)
            {
                case State.Start:
                {
                    var b = data[i];
                    if (b == 0xEF) { _state = State.Bom; _match = 1; i++; }
                    else if (b is 0xFE or 0xFF or 0x00) throw Error(FramerErrorCondition.UnsupportedEncoding, "only UTF-8 is supported");
                    else { _state = State.Prolog; _declAllowed = true; }
                    break;
                }
                case State.Bom:
                {
                    if (data[i] != (_match == 1 ? 0xBB : 0xBF)) throw NotWellFormed("invalid byte order mark");
                    i++;
                    if (++_match == 3) { _state = State.Prolog; _declAllowed = true; }
                    break;
                }
                case State.Prolog:
                case State.Between:
                case State.AfterRoot:
                {
                    var b = data[i];
                    if (IsWs(b)) { _declAllowed = false; i++; break; }
                    if (b != '<' || _state == State.AfterRoot)
                        throw NotWellFormed(_state switch
                        {
                            State.Prolog => "content before the stream header",
                            State.Between => "character data between stanzas",
                            _ => "content after the end of the stream",
                        });
                    BeginToken(i);
                    _count = 0;
                    Count(1);
                    _state = State.LtSeen;
                    i++;
                    break;
                }
                case State.LtSeen:
                {
                    var b = data[i];
                    var declOk = _declAllowed;
                    _declAllowed = false;
                    if (b == '?')
                    {
                        if (!declOk) throw Error(FramerErrorCondition.RestrictedXml, "processing instructions are not allowed");
                        _state = State.Decl;
                        _match = 0;
                    }
                    else if (b == '!') _state = State.Bang;
                    else if (b == '/')
                    {
                        if (_depth == 0) throw NotWellFormed("end tag before the stream header");
                        _state = State.Tag;
                        _endTag = true;
                        _quote = 0;
                    }
                    else
                    {
                        // a start tag: the byte is the first of the name, let the Tag state scan it
                        _state = State.Tag;
                        _endTag = false;
                        _quote = 0;
                        break;
                    }
                    Count(1);
                    i++;
                    break;
                }
                case State.Bang:
                {
                    var b = data[i];
                    if (b == '[')
                    {
                        if (_depth < 2) throw NotWellFormed("CDATA section outside a stanza");
                        _state = State.CdataOpen;
                        _match = 0;
                    }
                    else if (b == '-') throw Error(FramerErrorCondition.RestrictedXml, "comments are not allowed");
                    else if (b is >= (byte)'A' and <= (byte)'Z')
                        throw Error(FramerErrorCondition.RestrictedXml, "DTDs and markup declarations are not allowed");
                    else throw NotWellFormed("invalid markup after '<!'");
                    Count(1);
                    i++;
                    break;
                }
                case State.CdataOpen:
                {
                    if (data[i] != "CDATA["u8[_match]) throw NotWellFormed("invalid CDATA section start");
                    Count(1);
                    i++;
                    if (++_match == 6)
                    {
                        ReleaseToken();
                        BeginToken(i);
                        _state = State.CdataBody;
                        _match = 0;
                    }
                    break;
                }
                case State.CdataBody:
                {
                    var b = data[i];
                    Count(1);
                    i++;
                    if (b == ']') _match++;
                    else if (b == '>' && _match >= 2)
                    {
                        var tok = TokenSpan(data, i);
                        var text = Decode(tok[..^3], TextMode.Cdata);
                        ReleaseToken();
                        AppendText(text);
                        _state = State.Text;
                        BeginToken(i);
                    }
                    else _match = 0;
                    break;
                }
                case State.Decl:
                {
                    var b = data[i];
                    Count(1);
                    i++;
                    if (b == '>' && _match == 1)
                    {
                        ParseDecl(TokenSpan(data, i));
                        ReleaseToken();
                        _state = State.Prolog;
                    }
                    else _match = b == '?' ? 1 : 0;
                    break;
                }
                case State.Tag:
                {
                    var rest = data[i..];
                    int j;
                    if (_quote != 0)
                    {
                        j = rest.IndexOfAny(_quote, (byte)'<');
                        if (j < 0) { Count(rest.Length); i = n; break; }
                        Count(j + 1);
                        if (rest[j] == '<') throw NotWellFormed("'<' in an attribute value");
                        _quote = 0;
                        i += j + 1;
                        break;
                    }
                    j = rest.IndexOfAny(TagStops);
                    if (j < 0) { Count(rest.Length); i = n; break; }
                    Count(j + 1);
                    var c = rest[j];
                    i += j + 1;
                    if (c == '>') CompleteTag(TokenSpan(data, i), i);
                    else if (c == '<') throw NotWellFormed("'<' inside a tag");
                    else _quote = c;
                    break;
                }
                case State.Text:
                {
                    var rest = data[i..];
                    var j = rest.IndexOfAny(TextStops);
                    if (j < 0) { Count(rest.Length); i = n; break; }
                    Count(j + 1);
                    i += j;
                    var tok = TokenSpan(data, i);
                    if (!tok.IsEmpty)
                    {
                        AppendText(Decode(tok, TextMode.Text));
                    }
                    ReleaseToken();
                    BeginToken(i);
                    _state = State.LtSeen;
                    i++;
                    break;
                }
            }
        }
        if (_tok && !_faulted) Stash(data[_tokStart..]);
    }

    private void Count(int bytes)
    {
        _count += bytes;
        if (_count > _maxBytes)
            throw Error(FramerErrorCondition.PolicyViolation, $"stanza exceeds the limit of {_maxBytes} bytes");
    }

    // ---- token buffering ---------------------------------------------------------------------------------------

    private void BeginToken(int start)
    {
        _tok = true;
        _tokStart = start;
    }

    /// <summary>The complete current token, ending at <paramref name="end"/> (exclusive) in the current chunk.</summary>
    private ReadOnlySpan<byte> TokenSpan(ReadOnlySpan<byte> data, int end)
    {
        if (_bufLen == 0) return data[_tokStart..end];
        Stash(data[_tokStart..end]);
        return _buf.AsSpan(0, _bufLen);
    }

    private void Stash(ReadOnlySpan<byte> part)
    {
        if (part.IsEmpty) return;
        var need = _bufLen + part.Length;
        if (_buf is null || _buf.Length < need)
        {
            var size = Math.Max(need, Math.Max(256, (_buf?.Length ?? 0) * 2));
            var nb = ArrayPool<byte>.Shared.Rent(size);
            if (_buf is not null)
            {
                _buf.AsSpan(0, _bufLen).CopyTo(nb);
                ArrayPool<byte>.Shared.Return(_buf);
            }
            _buf = nb;
        }
        part.CopyTo(_buf.AsSpan(_bufLen));
        _bufLen = need;
    }

    private void ReleaseToken()
    {
        _tok = false;
        _bufLen = 0;
        if (_buf is not null)
        {
            ArrayPool<byte>.Shared.Return(_buf);
            _buf = null;
        }
    }

    /// <summary>Drops oversized scratch arrays so that an idle framer stays small.</summary>
    private void Trim()
    {
        if (_frames.Length > 16)
        {
            var f = new Frame[4];
            Array.Copy(_frames, f, Math.Min(_depth, 4));
            _frames = f;
        }
        if (_bindPrefix.Length > 16 && _bindCount <= 8)
        {
            Array.Resize(ref _bindPrefix, 8);
            Array.Resize(ref _bindUri, 8);
        }
        if (_attrs.Length > 32) _attrs = new RawAttr[8];
        _pendingText = null;
        _pendingBuilder = null;
    }

    // ---- tags ----------------------------------------------------------------------------------------------------

    /// <summary>Handles a complete tag token (from '&lt;' to '&gt;'); <paramref name="end"/> is the index after it in the chunk.
    /// All parsing happens before the token is released and before any callback, and a callback is the last action,
    /// so a sink may call <see cref="Reset"/> from it.</summary>
    private void CompleteTag(ReadOnlySpan<byte> t, int end)
    {
        if (_endTag) { CompleteEndTag(t, end); return; }

        if (_depth > _maxDepth) throw Error(FramerErrorCondition.PolicyViolation, $"elements nested deeper than {_maxDepth}");
        if (_depth >= 1)
        {
            if (_depth == 1) _elements = 0; // a new stanza
            if (++_elements > _maxElements) throw Error(FramerErrorCondition.PolicyViolation, $"more than {_maxElements} elements in a stanza");
            if (_depth >= 2 && ++_frames[_depth - 1].Children > _maxChildren)
                throw Error(FramerErrorCondition.PolicyViolation, $"more than {_maxChildren} child elements in an element");
        }

        var p = 1;
        ParseQName(t, ref p, out var eps, out var epl, out var els, out var ell);
        var na = 0;
        bool selfClose;
        while (true)
        {
            var ws = SkipWs(t, ref p);
            var b = t[p];
            if (b == '>') { selfClose = false; break; }
            if (b == '/')
            {
                if (p + 2 != t.Length) throw NotWellFormed("invalid empty-element tag");
                selfClose = true;
                break;
            }
            if (!ws) throw NotWellFormed("missing whitespace before an attribute");
            if (na == _maxAttributes) throw Error(FramerErrorCondition.PolicyViolation, $"more than {_maxAttributes} attributes on an element");
            ref var a = ref NextAttr(na++);
            ParseQName(t, ref p, out a.PStart, out a.PLen, out a.LStart, out a.LLen);
            SkipWs(t, ref p);
            if (t[p] != '=') throw NotWellFormed("expected '=' after an attribute name");
            p++;
            SkipWs(t, ref p);
            var q = t[p];
            if (q != '"' && q != '\'') throw NotWellFormed("attribute value must be quoted");
            var vs = p + 1;
            var ve = t[vs..].IndexOf(q);
            if (ve < 0) throw NotWellFormed("unterminated attribute value");
            a.VStart = vs;
            a.VLen = ve;
            a.IsDecl = false;
            p = vs + ve + 1;
        }

        // namespace declarations first: they are in scope for this element's own name and attributes
        var mark = _bindCount;
        string? defaultDecl = null;
        for (var k = 0; k < na; k++)
        {
            ref var a = ref _attrs[k];
            if (a.PLen == 0)
            {
                if (!t.Slice(a.LStart, a.LLen).SequenceEqual("xmlns"u8)) continue;
                if (defaultDecl is not null) throw NotWellFormed("duplicate xmlns attribute");
                var uri = AttrValue(t, a);
                if (uri is XmlNs or XmlnsNs) throw Error(FramerErrorCondition.BadNamespacePrefix, "reserved namespace as default namespace");
                defaultDecl = uri;
                a.IsDecl = true;
                PushBinding(string.Empty, uri);
            }
            else if (t.Slice(a.PStart, a.PLen).SequenceEqual("xmlns"u8))
            {
                a.IsDecl = true;
                var prefixBytes = t.Slice(a.LStart, a.LLen);
                var uri = AttrValue(t, a);
                if (prefixBytes.SequenceEqual("xml"u8))
                {
                    if (uri != XmlNs) throw Error(FramerErrorCondition.BadNamespacePrefix, "the xml prefix cannot be rebound");
                    continue; // xml is implicitly bound
                }
                if (prefixBytes.SequenceEqual("xmlns"u8)) throw Error(FramerErrorCondition.BadNamespacePrefix, "the xmlns prefix cannot be declared");
                if (uri.Length == 0) throw Error(FramerErrorCondition.BadNamespacePrefix, "a prefix cannot be undeclared");
                if (uri is XmlNs or XmlnsNs) throw Error(FramerErrorCondition.BadNamespacePrefix, "reserved namespace bound to a prefix");
                for (var m = mark; m < _bindCount; m++)
                    if (_bindPrefix[m].Length > 0 && Eq(prefixBytes, _bindPrefix[m])) throw NotWellFormed("duplicate namespace declaration");
                PushBinding(NameTable.Get(prefixBytes), uri);
            }
        }

        // the element's name
        string ns;
        string? prefix = null;
        if (epl == 0) ns = LookupDefault();
        else
        {
            var pb = t.Slice(eps, epl);
            if (pb.SequenceEqual("xml"u8)) { ns = XmlNs; prefix = "xml"; }
            else if (pb.SequenceEqual("xmlns"u8)) throw Error(FramerErrorCondition.BadNamespacePrefix, "element with the xmlns prefix");
            else
            {
                var k = LookupPrefix(pb);
                if (k < 0) throw Error(FramerErrorCondition.BadNamespacePrefix, "undeclared namespace prefix on an element");
                ns = _bindUri[k];
                prefix = _bindPrefix[k];
            }
        }
        var el = new Element(NameTable.Get(t.Slice(els, ell)), ns);

        // the other attributes
        HashSet<(string, string?)>? seen = null;
        for (var k = 0; k < na; k++)
        {
            ref var a = ref _attrs[k];
            if (a.IsDecl) continue;
            string name;
            string? attrNs = null;
            if (a.PLen == 0) name = NameTable.Get(t.Slice(a.LStart, a.LLen));
            else
            {
                var pb = t.Slice(a.PStart, a.PLen);
                if (pb.SequenceEqual("xml"u8)) name = NameTable.TryGet(t.Slice(a.PStart, a.PLen + 1 + a.LLen)) ?? "xml:" + NameTable.Get(t.Slice(a.LStart, a.LLen));
                else
                {
                    var b = LookupPrefix(pb);
                    if (b < 0) throw Error(FramerErrorCondition.BadNamespacePrefix, "undeclared namespace prefix on an attribute");
                    name = NameTable.Get(t.Slice(a.LStart, a.LLen));
                    attrNs = _bindUri[b];
                }
            }
            // duplicate check on expanded names: linear for the usual handful of attributes, hashed for hostile counts
            var attrs = el.Attributes;
            if (seen is null && attrs.Count >= 16)
            {
                seen = new HashSet<(string, string?)>();
                for (var m = 0; m < attrs.Count; m++) seen.Add((attrs[m].Name, attrs[m].Namespace));
            }
            if (seen is not null)
            {
                if (!seen.Add((name, attrNs))) throw NotWellFormed("duplicate attribute");
            }
            else
            {
                for (var m = 0; m < attrs.Count; m++)
                    if (attrs[m].Is(name, attrNs)) throw NotWellFormed("duplicate attribute");
            }
            el.AddAttrUnchecked(name, AttrValue(t, a), attrNs);
        }

        // everything is parsed: release the token, move the state, then call back
        ReleaseToken();
        if (_depth == 0)
        {
            var header = new StreamHeader(el.Name, el.Namespace, defaultDecl, el.Attributes);
            if (selfClose)
            {
                PopBindings(mark);
                _state = State.AfterRoot;
                var gen = _gen;
                _sink.OnStreamOpen(header);
                if (gen == _gen) _sink.OnStreamClose();
                return;
            }
            PushFrame(null, prefix, el.Name, mark);
            _state = State.Between;
            _sink.OnStreamOpen(header);
            return;
        }

        if (_depth >= 2)
        {
            FlushText();
            _frames[_depth - 1].El!.Add(el);
        }
        if (selfClose)
        {
            PopBindings(mark);
            if (_depth == 1)
            {
                _state = State.Between;
                Trim();
                _sink.OnStanza(el);
                return;
            }
            _state = State.Text;
            BeginToken(end);
            return;
        }
        PushFrame(el, prefix, el.Name, mark);
        _state = State.Text;
        BeginToken(end);
    }

    private void CompleteEndTag(ReadOnlySpan<byte> t, int end)
    {
        var p = 2;
        ParseQName(t, ref p, out var ps, out var pl, out var ls, out var ll);
        SkipWs(t, ref p);
        if (p != t.Length - 1) throw NotWellFormed("invalid end tag");
        ref var f = ref _frames[_depth - 1];
        var prefixOk = pl == 0 ? f.Prefix is null : f.Prefix is not null && Eq(t.Slice(ps, pl), f.Prefix);
        if (!prefixOk || !Eq(t.Slice(ls, ll), f.Local)) throw NotWellFormed("mismatched end tag");
        if (_depth >= 2) FlushText();
        var el = f.El;
        PopBindings(f.BindMark);
        f = default;
        _depth--;
        ReleaseToken();
        if (_depth == 0)
        {
            _state = State.AfterRoot;
            Trim();
            _sink.OnStreamClose();
            return;
        }
        if (_depth == 1)
        {
            _state = State.Between;
            Trim();
            _sink.OnStanza(el!);
            return;
        }
        _state = State.Text;
        BeginToken(end);
    }

    private void AppendText(string text)
    {
        if (text.Length == 0) return;
        if (_pendingBuilder is not null) _pendingBuilder.Append(text);
        else if (_pendingText is null) _pendingText = text;
        else
        {
            _pendingBuilder = new StringBuilder(_pendingText, Math.Max(256, (_pendingText.Length + text.Length) * 2));
            _pendingBuilder.Append(text);
            _pendingText = null;
        }
    }

    /// <summary>Adds pending character data to the innermost open element (before a child starts or the element ends).</summary>
    private void FlushText()
    {
        if (_pendingBuilder is not null)
        {
            _frames[_depth - 1].El!.AddText(_pendingBuilder.ToString());
            _pendingBuilder = null;
        }
        else if (_pendingText is not null)
        {
            _frames[_depth - 1].El!.AddText(_pendingText);
            _pendingText = null;
        }
    }

    private ref RawAttr NextAttr(int index)
    {
        if (index == _attrs.Length) Array.Resize(ref _attrs, _attrs.Length * 2);
        return ref _attrs[index];
    }

    private string AttrValue(ReadOnlySpan<byte> t, in RawAttr a) => Decode(t.Slice(a.VStart, a.VLen), TextMode.Attr);

    private void PushFrame(Element? el, string? prefix, string local, int mark)
    {
        if (_depth == _frames.Length) Array.Resize(ref _frames, _frames.Length * 2);
        _frames[_depth++] = new Frame { El = el, Prefix = prefix, Local = local, BindMark = mark };
    }

    private void PushBinding(string prefix, string uri)
    {
        if (_bindCount == MaxBindings) throw Error(FramerErrorCondition.PolicyViolation, "too many namespace declarations in scope");
        if (_bindCount == _bindPrefix.Length)
        {
            Array.Resize(ref _bindPrefix, _bindCount * 2);
            Array.Resize(ref _bindUri, _bindCount * 2);
        }
        _bindPrefix[_bindCount] = prefix;
        _bindUri[_bindCount] = uri;
        _bindCount++;
    }

    private void PopBindings(int mark)
    {
        if (mark >= _bindCount) return;
        Array.Clear(_bindPrefix, mark, _bindCount - mark);
        Array.Clear(_bindUri, mark, _bindCount - mark);
        _bindCount = mark;
    }

    private string LookupDefault()
    {
        for (var k = _bindCount - 1; k >= 0; k--)
            if (_bindPrefix[k].Length == 0) return _bindUri[k];
        return string.Empty;
    }

    private int LookupPrefix(ReadOnlySpan<byte> prefix)
    {
        for (var k = _bindCount - 1; k >= 0; k--)
            if (_bindPrefix[k].Length != 0 && Eq(prefix, _bindPrefix[k])) return k;
        return -1;
    }

    // ---- the XML declaration -----------------------------------------------------------------------------------

    private static void ParseDecl(ReadOnlySpan<byte> t)
    {
        // t is "<?" ... "?>"
        if (t.Length < 8 || !t[..5].SequenceEqual("<?xml"u8) || !IsWs(t[5]))
            throw Error(FramerErrorCondition.RestrictedXml, "processing instructions are not allowed");
        var end = t.Length - 2; // index of the closing '?'
        var p = 5;
        var stage = 0; // 0: expect version, 1: encoding or standalone, 2: standalone, 3: nothing more
        while (true)
        {
            var ws = SkipWs(t, ref p);
            if (p == end) break;
            if (!ws) throw NotWellFormed("invalid XML declaration");
            var ns = p;
            while (p < end && t[p] is >= (byte)'a' and <= (byte)'z') p++;
            var name = t[ns..p];
            SkipWs(t, ref p);
            if (p >= end || t[p] != '=') throw NotWellFormed("invalid XML declaration");
            p++;
            SkipWs(t, ref p);
            if (p >= end || (t[p] != '"' && t[p] != '\'')) throw NotWellFormed("invalid XML declaration");
            var q = t[p];
            var vs = p + 1;
            var vl = t[vs..end].IndexOf(q);
            if (vl < 0) throw NotWellFormed("invalid XML declaration");
            var v = t.Slice(vs, vl);
            p = vs + vl + 1;
            if (stage == 0 && name.SequenceEqual("version"u8))
            {
                if (v.Length < 3 || v[0] != '1' || v[1] != '.' || v[2..].IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
                    throw NotWellFormed("unsupported XML version");
                stage = 1;
            }
            else if (stage == 1 && name.SequenceEqual("encoding"u8))
            {
                if (!Ascii.EqualsIgnoreCase(v, "UTF-8"u8))
                    throw Error(FramerErrorCondition.UnsupportedEncoding, "only UTF-8 is supported");
                stage = 2;
            }
            else if (stage is 1 or 2 && name.SequenceEqual("standalone"u8))
            {
                if (!v.SequenceEqual("yes"u8) && !v.SequenceEqual("no"u8)) throw NotWellFormed("invalid XML declaration");
                stage = 3;
            }
            else throw NotWellFormed("invalid XML declaration");
        }
        if (stage == 0) throw NotWellFormed("XML declaration without version");
    }

    // ---- names -------------------------------------------------------------------------------------------------

    /// <summary>Parses a QName (Namespaces in XML: NCName or NCName ':' NCName) at <paramref name="p"/>.</summary>
    private static void ParseQName(ReadOnlySpan<byte> t, ref int p, out int prefixStart, out int prefixLen, out int localStart, out int localLen)
    {
        var start = p;
        var colon = -1;
        var first = true;
        while (p < t.Length)
        {
            int b = t[p];
            if (b == ':')
            {
                if (colon >= 0 || first) throw NotWellFormed("invalid qualified name");
                colon = p;
                first = true;
                p++;
                continue;
            }
            int cp;
            var q = p;
            if (b < 0x80) { cp = b; q++; }
            else cp = DecodeUtf8(t, ref q);
            if (!(first ? IsNameStart(cp) : IsNameChar(cp)))
            {
                if (first) throw NotWellFormed("invalid name");
                break;
            }
            p = q;
            first = false;
        }
        if (first) throw NotWellFormed("invalid name");
        if (colon >= 0)
        {
            prefixStart = start;
            prefixLen = colon - start;
            localStart = colon + 1;
            localLen = p - colon - 1;
        }
        else
        {
            prefixStart = start;
            prefixLen = 0;
            localStart = start;
            localLen = p - start;
        }
    }

    private static bool IsNameStart(int c) =>
        c < 0x80
            ? (uint)((c | 0x20) - 'a') <= 'z' - 'a' || c == '_'
            : c is (>= 0xC0 and <= 0xD6) or (>= 0xD8 and <= 0xF6) or (>= 0xF8 and <= 0x2FF) or (>= 0x370 and <= 0x37D)
                or (>= 0x37F and <= 0x1FFF) or (>= 0x200C and <= 0x200D) or (>= 0x2070 and <= 0x218F)
                or (>= 0x2C00 and <= 0x2FEF) or (>= 0x3001 and <= 0xD7FF) or (>= 0xF900 and <= 0xFDCF)
                or (>= 0xFDF0 and <= 0xFFFD) or (>= 0x10000 and <= 0xEFFFF);

    private static bool IsNameChar(int c) =>
        IsNameStart(c) || c is (>= '0' and <= '9') or '-' or '.' or 0xB7 or (>= 0x300 and <= 0x36F) or (>= 0x203F and <= 0x2040);

    /// <summary>Ordinal equality of UTF-8 bytes and a string, without allocating for ASCII.</summary>
    private static bool Eq(ReadOnlySpan<byte> bytes, string s)
    {
        if (Ascii.Equals(bytes, s)) return true;
        if (Ascii.IsValid(bytes)) return false;
        return Encoding.UTF8.GetString(bytes) == s; // non-ASCII names: rare
    }

    // ---- character data ----------------------------------------------------------------------------------------

    /// <summary>Validates and decodes text, CDATA content or an attribute value: UTF-8, XML Char, line-end normalization,
    /// entity and character references (not in CDATA), attribute-value normalization of literal whitespace.</summary>
    private static string Decode(ReadOnlySpan<byte> s, TextMode mode)
    {
        if (s.IndexOfAnyExcept(PlainAscii) < 0)
            return mode == TextMode.Attr ? NameTable.TryGet(s) ?? Encoding.ASCII.GetString(s) : Encoding.ASCII.GetString(s);

        char[]? rented = null;
        Span<char> o = s.Length <= 256 ? stackalloc char[256] : (rented = ArrayPool<char>.Shared.Rent(s.Length));
        try
        {
            var w = 0;
            var i = 0;
            while (i < s.Length)
            {
                int b = s[i];
                if (b >= 0x80)
                {
                    var cp = DecodeUtf8(s, ref i);
                    if (cp is 0xFFFE or 0xFFFF) throw NotWellFormed("character not allowed in XML");
                    w += WriteCodePoint(o[w..], cp);
                    continue;
                }
                i++;
                switch (b)
                {
                    case '&' when mode != TextMode.Cdata:
                        w += WriteCodePoint(o[w..], ParseReference(s, ref i));
                        continue;
                    case '<' when mode == TextMode.Attr:
                        throw NotWellFormed("'<' in an attribute value");
                    case '>' when mode == TextMode.Text && i >= 3 && s[i - 2] == ']' && s[i - 3] == ']':
                        throw NotWellFormed("']]>' in character data");
                    case '\r':
                        if (i < s.Length && s[i] == '\n') i++;
                        o[w++] = mode == TextMode.Attr ? ' ' : '\n';
                        continue;
                    case '\n' or '\t':
                        o[w++] = mode == TextMode.Attr ? ' ' : (char)b;
                        continue;
                    case < 0x20:
                        throw NotWellFormed("character not allowed in XML");
                }
                o[w++] = (char)b;
            }
            return new string(o[..w]);
        }
        finally
        {
            if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        }
    }

    private static int WriteCodePoint(Span<char> o, int cp)
    {
        if (cp < 0x10000)
        {
            o[0] = (char)cp;
            return 1;
        }
        cp -= 0x10000;
        o[0] = (char)(0xD800 + (cp >> 10));
        o[1] = (char)(0xDC00 + (cp & 0x3FF));
        return 2;
    }

    /// <summary>Parses an entity or character reference; <paramref name="i"/> is just after the '&amp;' and ends after the ';'.</summary>
    private static int ParseReference(ReadOnlySpan<byte> s, ref int i)
    {
        var rest = s[i..];
        var semi = rest.IndexOf((byte)';');
        if (semi <= 0) throw NotWellFormed("invalid entity reference");
        var r = rest[..semi];
        i += semi + 1;
        if (r[0] == '#')
        {
            var hex = r.Length > 1 && r[1] == 'x';
            var digits = r[(hex ? 2 : 1)..];
            if (digits.IsEmpty) throw NotWellFormed("invalid character reference");
            var v = 0;
            foreach (var d in digits)
            {
                int x;
                if (d is >= (byte)'0' and <= (byte)'9') x = d - '0';
                else if (hex && (d | 0x20) >= 'a' && (d | 0x20) <= 'f') x = (d | 0x20) - 'a' + 10;
                else throw NotWellFormed("invalid character reference");
                v = v * (hex ? 16 : 10) + x;
                if (v > 0x10FFFF) throw NotWellFormed("character reference out of range");
            }
            if (!IsXmlChar(v)) throw NotWellFormed("character reference to a character not allowed in XML");
            return v;
        }
        if (r.SequenceEqual("lt"u8)) return '<';
        if (r.SequenceEqual("gt"u8)) return '>';
        if (r.SequenceEqual("amp"u8)) return '&';
        if (r.SequenceEqual("apos"u8)) return '\'';
        if (r.SequenceEqual("quot"u8)) return '"';
        throw NotWellFormed("undeclared entity");
    }

    private static bool IsXmlChar(int c) =>
        c is 0x9 or 0xA or 0xD or (>= 0x20 and <= 0xD7FF) or (>= 0xE000 and <= 0xFFFD) or (>= 0x10000 and <= 0x10FFFF);

    /// <summary>Decodes one multi-byte UTF-8 sequence starting at <paramref name="i"/>, rejecting overlongs, surrogates,
    /// values above U+10FFFF, bad continuation bytes and truncation.</summary>
    private static int DecodeUtf8(ReadOnlySpan<byte> s, ref int i)
    {
        int b0 = s[i];
        int need, cp, lo = 0x80, hi = 0xBF;
        if (b0 < 0xC2) throw NotWellFormed("invalid UTF-8");
        if (b0 < 0xE0) { need = 1; cp = b0 & 0x1F; }
        else if (b0 < 0xF0)
        {
            need = 2;
            cp = b0 & 0x0F;
            if (b0 == 0xE0) lo = 0xA0;
            else if (b0 == 0xED) hi = 0x9F;
        }
        else if (b0 < 0xF5)
        {
            need = 3;
            cp = b0 & 0x07;
            if (b0 == 0xF0) lo = 0x90;
            else if (b0 == 0xF4) hi = 0x8F;
        }
        else throw NotWellFormed("invalid UTF-8");
        if (i + need >= s.Length) throw NotWellFormed("invalid UTF-8");
        int b1 = s[i + 1];
        if (b1 < lo || b1 > hi) throw NotWellFormed("invalid UTF-8");
        cp = (cp << 6) | (b1 & 0x3F);
        for (var k = 2; k <= need; k++)
        {
            int b = s[i + k];
            if ((b & 0xC0) != 0x80) throw NotWellFormed("invalid UTF-8");
            cp = (cp << 6) | (b & 0x3F);
        }
        i += need + 1;
        return cp;
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static bool IsWs(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r';

    private static bool SkipWs(ReadOnlySpan<byte> t, ref int p)
    {
        var start = p;
        while (p < t.Length && IsWs(t[p])) p++;
        return p > start;
    }

    private static SearchValues<byte> CreatePlainAscii()
    {
        var bytes = new List<byte>(96);
        for (var b = 0x20; b < 0x7F; b++)
            if (b != '&' && b != '<' && b != ']') bytes.Add((byte)b);
        return SearchValues.Create(bytes.ToArray());
    }

    private static FramerException NotWellFormed(string text) => new(FramerErrorCondition.NotWellFormed, text);

    private static FramerException Error(FramerErrorCondition condition, string text) => new(condition, text);
}
