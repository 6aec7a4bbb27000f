"""What packaging/sdk-test.sh asks of a running actors-server over XMPP (the raw client of tests/harness/xmpp_raw.py:
plain SASL, one bound resource).
  xmpp_check.py login PORT USER                 the account logs in and binds a resource (RFC 6120 §6, §7)
  xmpp_check.py hello PORT USER NS SECONDS      <iq type='get' to='localhost'><hello xmlns=NS/></iq> is answered
                                                'Hello, USER' within SECONDS (asked again while the plugin loads)
Exits non-zero with the reason on failure."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "harness"))
from xmpp_raw import C, Client  # noqa: E402

HOST, DOMAIN = "127.0.0.1", "localhost"


def main():
    what, port, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client = Client(HOST, DOMAIN, user, port)
    try:
        if what == "login":
            print(f"xmpp_check: {client.jid} logged in")
            return 0
        ns, seconds = sys.argv[4], float(sys.argv[5])
        deadline, n, last = time.time() + seconds, 0, None
        while time.time() < deadline:
            n += 1
            iq_id = f"hello{n}"
            client.send(f"<iq type='get' id='{iq_id}' to='{DOMAIN}'><hello xmlns='{ns}'/></iq>")
            client.wait(lambda: any(e.get("id") == iq_id for e in client.stanzas), 30, f"an answer to {iq_id}")
            with client.cond:
                last = next(e for e in client.stanzas if e.get("id") == iq_id)
            if last.get("type") == "result":
                text = last.findtext("{%s}hello" % ns)
                if text != f"Hello, {user}":
                    print(f"xmpp_check: unexpected answer {text!r}", file=sys.stderr)
                    return 1
                print(f"xmpp_check: the plugin answered {text!r}")
                return 0
            time.sleep(1)  # not loaded yet: the IQ is answered with an error (RFC 6120 §8.4)
        error = last.find(C + "error") if last is not None else None
        print(f"xmpp_check: no result within {seconds} s; last answer: {None if error is None else [c.tag for c in error]}",
              file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
