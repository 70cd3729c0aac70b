"""End to end with the real collector: `beacon receive` (Node) on port 0 with a temporary SQLite
store; Python emitters' datagrams pass its validation and are stored as whole runs with the
right exit codes."""
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import CLI, clean_env, run_py


@pytest.fixture
def receiver(tmp_path):
    if not os.path.exists(CLI):
        pytest.fail("dist/cli/beacon.js is missing: run `npm run build` first")
    db = str(tmp_path / "usage.db")
    p = subprocess.Popen(["node", CLI, "receive", "--host", "127.0.0.1", "--port", "0", "--db", db, "--flush-ms", "50"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        msg = json.loads(line)
        if msg.get("msg") == "listening":
            port = msg["port"]
            break
    if port is None:
        p.kill()
        pytest.fail("receiver did not start: %s" % p.stderr.read())
    yield p, port, db
    if p.poll() is None:
        p.kill()
    p.wait()


EMIT = """
import sys, usage_beacon
b = usage_beacon.start(project="pytool", version="3.1", components={{"executors": 2, "provider": "slurm"}})
{body}
"""


def test_runs_stored_whole_with_exit_codes(receiver, home):
    p, port, db = receiver
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR="127.0.0.1:%d" % port)
    bodies = {0: "pass", 3: "sys.exit(3)", 5: "raise SystemExit(5)", 1: "raise RuntimeError('x')"}
    for rc, body in bodies.items():
        code, _, _, _ = run_py(EMIT.format(body=body), env)
        assert code == rc
    # one more that ends explicitly, then exits differently
    code, _, _, _ = run_py(EMIT.format(body="b.end(7)\nsys.exit(0)"), env)
    assert code == 0
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    con = sqlite3.connect(db)
    rows = con.execute("SELECT format, project, version, runtime, has_start, has_end, exit_code, components, eph, "
                       "user_id, duration_ms FROM run_facts ORDER BY exit_code").fetchall()
    con.close()
    assert [r[6] for r in rows] == [0, 1, 3, 5, 7]
    for fmt, project, version, runtime, has_start, has_end, _, components, eph, user, dur in rows:
        assert (fmt, project, version, has_start, has_end, eph) == ("native", "pytool", "3.1", 1, 1, 0)
        assert runtime.startswith("python/3.")
        assert json.loads(components) == {"executors": 2, "provider": "slurm"}
        assert dur >= 0
    assert len({r[9] for r in rows}) == 1  # one user
