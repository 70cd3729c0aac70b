"""Cost of the Python emitter against a bare `socket.sendto` emitter (the floor), in one run.

Each sample is a fresh child interpreter (import costs only exist once per process), floor and
beacon interleaved so machine load hits both alike. Measured inside the child:
  start: `import usage_beacon` + `start()`   vs  `import socket` + socket() + 2x sendto
  exit:  the beacon's atexit handler (status, encode, 2x sendto)  vs  an atexit handler doing 2x sendto
(the exit figure is the time between an atexit handler registered after start, which runs first,
and one registered before it, which runs last). Two hosts: a bare script, and a host that already
imported what a tool like Parsl has loaded anyway (socket, json, threading, re, hashlib).
Prints JSON; ratios are beacon / floor medians from this one run.

    python3 clients/python/bench/startup.py [samples]
"""
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

CHILD = r"""
import sys, time
{preload}
import atexit
marks = {{}}
atexit.register(lambda: sys.stderr.write("EXIT %.1f\n" % ((time.perf_counter_ns() - marks["x"]) / 1e3)))
t0 = time.perf_counter_ns()
{emitter}
t1 = time.perf_counter_ns()
atexit.register(lambda: marks.__setitem__("x", time.perf_counter_ns()))
sys.stderr.write("START %.1f\n" % ((t1 - t0) / 1e3))
"""

FLOOR = r"""
import socket
_s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
_s.setblocking(False)
_d = b'{{"v":1,"kind":"start"}}' + b"x" * 300
_s.sendto(_d, ("127.0.0.1", {port})); _s.sendto(_d, ("127.0.0.1", {port}))
def _end():
    e = b'{{"v":1,"kind":"end"}}' + b"x" * 320
    _s.sendto(e, ("127.0.0.1", {port})); _s.sendto(e, ("127.0.0.1", {port}))
atexit.register(_end)
"""

BEACON = r"""
import usage_beacon
usage_beacon.start(project="bench", version="1.0", collector="127.0.0.1:{port}", components={{"executors": 2}})
"""

PRELOAD_HOST = "import socket, json, threading, re, hashlib"


def sample(code, env):
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    vals = {}
    for line in p.stderr.splitlines():
        k, _, v = line.partition(" ")
        if k in ("START", "EXIT"):
            vals[k] = float(v)
    if p.returncode != 0 or len(vals) != 2:
        raise SystemExit("bench child failed: %s" % p.stderr)
    return vals


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    port = rx.getsockname()[1]
    home = tempfile.mkdtemp(prefix="ub-bench-")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": SRC, "BEACON_HOME": home,
           "BEACON_SITE_CONFIG": "/nonexistent/site.json"}
    results = {}
    for host, preload in (("bare", ""), ("tool_host", PRELOAD_HOST)):
        codes = {"floor": CHILD.format(preload=preload, emitter=FLOOR.format(port=port)),
                 "beacon": CHILD.format(preload=preload, emitter=BEACON.format(port=port))}
        sample(codes["beacon"], env)  # first run: creates the state file and .pyc, shows the notice
        got = {"floor": {"START": [], "EXIT": []}, "beacon": {"START": [], "EXIT": []}}
        for _ in range(n):
            for kind in ("floor", "beacon"):
                v = sample(codes[kind], env)
                got[kind]["START"].append(v["START"])
                got[kind]["EXIT"].append(v["EXIT"])
        results[host] = {}
        for stat_name, fn in (("median", statistics.median), ("min", min)):
            v = {k: {m: fn(x) for m, x in d.items()} for k, d in got.items()}
            for m, label in (("START", "start_us"), ("EXIT", "exit_us")):
                results[host].setdefault(label, {})[stat_name] = {
                    "floor": round(v["floor"][m], 1), "beacon": round(v["beacon"][m], 1),
                    "ratio": round(v["beacon"][m] / v["floor"][m], 2)}
    # the interpreter's own start-up (`python -c pass`, wall time), for scale, same run
    walls = []
    for _ in range(max(5, n // 3)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env)
        walls.append((time.perf_counter() - t0) * 1e6)
    rx.close()
    print(json.dumps({
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "samples": n, "median_of": "child processes, floor and beacon interleaved",
        "results": results,
        "interpreter_startup_wall_us": round(statistics.median(walls), 1),
    }, indent=2))


if __name__ == "__main__":
    main()
