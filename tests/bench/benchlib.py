"""What the load tools in tests/bench share: ../shared/bench/loadgen.py (its Bench, Conn and /proc probes), the
arguments loadgen.Bench reads beyond a tool's own, and writing a tool's result line."""
import argparse
import asyncio
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def loadgen_dir():
    """BENCH_LOADGEN, else the first shared/bench beside the repository or one of its parents (../shared/bench)."""
    if os.environ.get("BENCH_LOADGEN"):
        return os.environ["BENCH_LOADGEN"]
    d = os.path.dirname(os.path.dirname(HERE))
    while True:
        parent = os.path.dirname(d)
        if os.path.isfile(os.path.join(parent, "shared", "bench", "loadgen.py")) or parent == d:
            return os.path.join(parent, "shared", "bench")
        d = parent


sys.path.insert(0, loadgen_dir())
import loadgen  # noqa: E402,F401  (re-exported for the tools)


def parser(doc):
    """The arguments every tool takes: where the server is, who logs in, the server's PID, where the result goes."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--prefix", default="u")
    ap.add_argument("--password", default="benchpass")
    ap.add_argument("--resource", default="r")
    ap.add_argument("--mech", default="PLAIN", choices=["PLAIN", "SCRAM-SHA-1"])
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--server", default="")
    ap.add_argument("--out", default="")
    return ap


def run(a, body, concurrency=50):
    """Checks the target is loopback, sets what loadgen.Bench reads from its arguments, runs body(a) on (uv)loop and
    exits with its status."""
    if not a.host.startswith("127."):
        sys.exit("loopback targets only")
    for k, v in {"tls": False, "roster": True, "concurrency": concurrency, "arrival_rate": 0, "retries": 2,
                 "phase_timeout": 600, "src_ips": "", "port_block": 1, "scram_cache": "", "ports": "",
                 "ping_after_presence": True}.items():
        setattr(a, k, v)
    if loadgen.uvloop is not None:
        loadgen.uvloop.install()
    sys.exit(asyncio.run(body(a)))


def emit(a, res):
    """Prints the result as one JSON line, and appends it to --out."""
    line = json.dumps(res)
    print(line)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")


async def finish(a, b, res, work):
    """Awaits a tool's measurement (its status: 0 when it met its own checks), records a failure in the result as
    'fatal', closes the sessions, and emits the result line."""
    try:
        status = await work
    except Exception as e:  # noqa: BLE001 - any failure is reported in the result line
        res["fatal"] = f"{type(e).__name__}: {e}"[:500]
        status = 1
    finally:
        await b.close_all()
    emit(a, res)
    return status
