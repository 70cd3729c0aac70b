"""Real parts for the Python emitter's tests: UDP listeners on port 0, temporary state homes,
child Python processes that import usage_beacon from the source tree (nothing is installed)."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CLI = os.path.join(ROOT, "dist", "cli", "beacon.js")
if SRC not in sys.path:
    sys.path.insert(0, SRC)  # tests import the module from the source tree; nothing is installed


def _host_signal_defaults():
    """The exit-path tests model a host started from a terminal: SIGINT, SIGHUP and SIGTERM at
    their defaults. A runner started in the background by a shell (`cmd &`) or under nohup
    inherits SIGINT or SIGHUP *ignored*, and an ignored signal stays ignored across exec, so every
    child host would silently ignore the signal the test sends and hang. Restored here, once, for
    this process and so for every child it starts."""
    import signal
    for name, handler in (("SIGINT", signal.default_int_handler), ("SIGHUP", signal.SIG_DFL),
                          ("SIGTERM", signal.SIG_DFL)):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, handler)


_host_signal_defaults()


# Every datagram any test received, for test_zz_schema.py (validated by the project's ajv + schema).
ALL_DATAGRAMS = []


class Listener(object):
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.collector = "127.0.0.1:%d" % self.port
        self.datagrams = []
        self._stop = False
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        self.sock.settimeout(0.05)
        while not self._stop:
            try:
                data, _ = self.sock.recvfrom(65535)
                self.datagrams.append(data)
                ALL_DATAGRAMS.append(data)
            except socket.timeout:
                continue
            except OSError:
                return

    def wait_for(self, n, timeout=10.0):
        deadline = time.time() + timeout
        while len(self.datagrams) < n:
            if time.time() > deadline:
                raise AssertionError("expected %d datagrams, got %d: %r" % (n, len(self.datagrams), self.datagrams))
            time.sleep(0.01)

    def settle(self, s=0.2):
        time.sleep(s)

    def messages(self):
        return [json.loads(d.decode("utf-8")) for d in self.datagrams]

    def close(self):
        self._stop = True
        self._t.join(1)
        self.sock.close()


@pytest.fixture
def listener():
    l = Listener()
    yield l
    l.close()


@pytest.fixture
def home(tmp_path):
    return str(tmp_path / "beacon-home")


def clean_env(**extra):
    """Nothing from the developer's shell leaks in (DO_NOT_TRACK, CI, the machine's site file)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1",
           "BEACON_SITE_CONFIG": "/nonexistent/usage-beacon-site.json"}
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_py(code, env, args=(), timeout=30, on_ready=None, ready_text="ready", cwd=None, script_dir=None):
    """Run `code` as a script file in a child Python; returns (returncode, stdout, stderr)."""
    d = script_dir or tempfile.mkdtemp(prefix="ub-script-")
    path = os.path.join(d, "host_tool.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(code))
    p = subprocess.Popen([sys.executable, path] + list(args), env=env, cwd=cwd or d,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if on_ready is not None:
        buf = b""
        deadline = time.time() + timeout
        while ready_text.encode() not in buf:
            line = p.stdout.readline()
            if not line or time.time() > deadline:
                break
            buf += line
        on_ready(p)
        out, err = p.communicate(timeout=timeout)
        out = buf + out
    else:
        out, err = p.communicate(timeout=timeout)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), path


def starts_and_ends(listener, n_runs=1):
    """Wait for a run's 2 starts + 2 ends (copies=2) and return (start, end) messages."""
    listener.wait_for(4 * n_runs)
    listener.settle(0.1)
    msgs = listener.messages()
    starts = [m for m in msgs if m["kind"] == "start"]
    ends = [m for m in msgs if m["kind"] == "end"]
    assert len(starts) == 2 * n_runs and len(ends) == 2 * n_runs, msgs
    assert len(set(listener.datagrams)) == 2 * n_runs  # identical copies
    assert ends[0]["run"] == starts[0]["run"]
    return starts[0], ends[0]
