"""Never breaks the host: no exception escapes, nothing on stdout, failing worlds (read-only home,
corrupt state file, closed stderr, bad collector), the notice once, BEACON_DEBUG, preview."""
import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import SRC, clean_env, run_py, starts_and_ends

START = """
import sys, usage_beacon
b = usage_beacon.start(project="hosttool", version="2.0")
print("enabled=%s" % b.enabled)
"""


def test_state_file_created_private_and_notice_once(listener, home, tmp_path):
    env = clean_env(BEACON_HOME=os.path.join(home, "deep", "er"), BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(START, env, script_dir=str(tmp_path))
    assert out == "enabled=True\n"
    assert "hosttool collects anonymous usage statistics" in err
    assert "export PARSL_TRACKING=false" in err and " -m usage_beacon preview --project hosttool" in err
    assert "=off" not in err and " -m usage_beacon disable\n" in err
    path = os.path.join(home, "deep", "er", "state.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for d in (home, os.path.join(home, "deep"), os.path.join(home, "deep", "er")):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    state = json.load(open(path))
    assert len(state["secret"]) == 64 and "hosttool" in state["noticed"]
    code, out, err2, _ = run_py(START, env, script_dir=str(tmp_path))
    assert err2 == ""  # shown once per user and project
    listener.wait_for(8)
    ids = {(m["user"], m["host"], m["script"]) for m in listener.messages()}
    assert len(ids) == 1  # stable IDs across runs from the one state file
    assert not any(m.get("eph") for m in listener.messages())


def test_read_only_home_still_counts_with_eph_and_no_exception(listener, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(str(ro), 0o500)
    # root ignores permissions: a read-only bind mount makes it real for everyone
    code = subprocess.call(["unshare", "-m", "sh", "-c",
                            "mount --bind -o ro %s %s && exec %s -c 'import os; open(os.path.join(\"%s\", \"x\"), \"w\")'"
                            % (ro, ro, sys.executable, ro)], stderr=subprocess.DEVNULL)
    if code == 0:
        pytest.skip("cannot make a read-only mount here")
    script = tmp_path / "t.py"
    script.write_text(START + "raise SystemExit(2)\n")
    env = clean_env(HOME=str(ro), BEACON_HOME=None, XDG_CONFIG_HOME=None, BEACON_COLLECTOR=listener.collector)
    p = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro %s %s && exec %s %s" % (ro, ro, sys.executable, script)],
                       env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert p.stdout == "enabled=True\n"
    assert "Traceback" not in p.stderr
    start, end = starts_and_ends(listener)
    assert start["eph"] is True and end["exit"] == 2


def test_corrupt_state_file_is_never_overwritten(listener, home):
    os.makedirs(home)
    path = os.path.join(home, "state.json")
    with open(path, "w") as f:
        f.write("{ this is the user's, not ours")
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(START, env)
    assert code == 0 and out == "enabled=True\n" and "Traceback" not in err
    assert open(path).read() == "{ this is the user's, not ours"
    start, _ = starts_and_ends(listener)
    assert start["eph"] is True


@pytest.mark.parametrize("state", ['{"secret": 5, "enabled": "yes", "noticed": []}', '[]', '"x"', ''])
def test_odd_state_contents_never_raise(listener, home, state):
    os.makedirs(home)
    with open(os.path.join(home, "state.json"), "w") as f:
        f.write(state)
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(START, env)
    assert code == 0 and out == "enabled=True\n" and "Traceback" not in err
    starts_and_ends(listener)


def test_state_path_is_a_directory_or_a_file_in_the_way(listener, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = clean_env(BEACON_HOME=str(blocker / "sub"), BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(START, env)
    assert code == 0 and out == "enabled=True\n" and "Traceback" not in err
    start, _ = starts_and_ends(listener)
    assert start["eph"] is True


@pytest.mark.parametrize("spec", ["not a collector", "host:99999", "host:", "[::1]:x", "a/b:5"])
def test_unusable_collector_disables_silently(home, spec):
    env = clean_env(BEACON_HOME=home)
    code, out, err, _ = run_py("import usage_beacon\nb = usage_beacon.start(project='t', collector=%r)\n"
                               "print(b.enabled, b.reason)" % spec, env)
    assert code == 0 and out.startswith("False unusable collector") and err == ""


def test_closed_stdout_and_stderr_do_not_break_the_host(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, BEACON_DEBUG=None)
    code, out, err, _ = run_py("import os, sys\nsys.stderr.close()\nimport usage_beacon\n"
                               "b = usage_beacon.start(project='t')\nsys.stdout.write('ok %s\\n' % b.enabled)\n", env)
    assert code == 0 and out == "ok True\n"
    starts_and_ends(listener)


def test_start_from_a_worker_thread(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py("import threading, sys, usage_beacon\nres = []\n"
                               "t = threading.Thread(target=lambda: res.append(usage_beacon.start(project='t')))\n"
                               "t.start(); t.join()\nprint(res[0].enabled)\nsys.exit(6)", env)
    assert code == 6 and out == "True\n" and err.count("Traceback") == 0
    _, end = starts_and_ends(listener)
    assert end["exit"] == 6


def test_hostile_options_never_raise(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py("""
import usage_beacon
class Evil(object):
    def __str__(self): raise RuntimeError("no")
b = usage_beacon.start(project=Evil(), version=object(), components={"ok": 1, "BAD KEY": 2, "n": float("nan"),
                       "x": ["list"], "s": "\\ud83d\\ude00" * 40, "big": 10**400}, copies="lots")
print(b.enabled)
""", env)
    assert code == 0 and out in ("True\n", "False\n") and "Traceback" not in err


def test_debug_prints_instead_of_sending(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, BEACON_DEBUG="1")
    code, out, err, _ = run_py(START + "raise SystemExit(3)", env)
    assert code == 3 and out == "enabled=True\n"
    lines = [l for l in err.splitlines() if l.startswith("usage-beacon debug: would send 2\u00d7 ")]
    assert len(lines) == 2
    msgs = [json.loads(l.split(": ", 2)[2]) for l in lines]
    assert [m["kind"] for m in msgs] == ["start", "end"] and msgs[1]["exit"] == 3
    assert ("to %s:" % listener.collector) in lines[0]
    listener.settle(0.3)
    assert listener.datagrams == []


def test_preview_prints_decision_and_exact_bytes_and_writes_nothing(home, tmp_path):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR="collector.example.org:4000")
    p = subprocess.run([sys.executable, "-m", "usage_beacon", "preview", "--project", "parsl"],
                       env=env, capture_output=True, text=True, cwd=SRC, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[0] == "tracking:    on \u2014 default (no opt-out set)"
    assert "collector:   collector.example.org:4000" in p.stdout
    assert "(no secret yet" in p.stdout
    start = json.loads(lines[lines.index([l for l in lines if l.startswith("start (")][0]) + 1])
    assert start["project"] == "parsl" and start["kind"] == "start"
    assert "start (%d bytes):" % len(lines[lines.index([l for l in lines if l.startswith("start (")][0]) + 1].encode()) in p.stdout
    assert not os.path.exists(home)  # writes nothing
    env_off = dict(env, PARSL_TRACKING="off")
    p = subprocess.run([sys.executable, "-m", "usage_beacon", "preview"], env=env_off, capture_output=True, text=True, cwd=SRC)
    assert p.stdout.startswith("tracking:    off \u2014 PARSL_TRACKING=off in the environment")
    assert "Nothing is sent." in p.stdout
    site = tmp_path / "site.json"
    site.write_text('{"collector": "relay.site.example:50077"}')
    env_site = dict(env, BEACON_SITE_CONFIG=str(site))
    del env_site["BEACON_COLLECTOR"]
    p = subprocess.run([sys.executable, "-m", "usage_beacon", "preview"], env=env_site,
                       capture_output=True, text=True, cwd=SRC)
    assert "site policy: %s: tracking allowed, collector relay.site.example:50077" % site in p.stdout
    assert "collector:   relay.site.example:50077 (from the site policy %s)" % site in p.stdout
    p = subprocess.run([sys.executable, "-m", "usage_beacon", "preview", "--collector", "no good"], env=env,
                       capture_output=True, text=True, cwd=SRC)
    assert p.returncode == 2 and "--collector must be host:port" in p.stderr


def test_concurrent_first_runs_agree_on_one_secret(listener, home, tmp_path):
    script = tmp_path / "t.py"
    script.write_text(START)
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    procs = [subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(8)]
    for p in procs:
        p.communicate(timeout=30)
        assert p.returncode == 0
    listener.wait_for(32)
    msgs = listener.messages()
    assert len({m["user"] for m in msgs}) == 1
    assert not any(m.get("eph") for m in msgs)
    secret = json.load(open(os.path.join(home, "state.json")))["secret"]
    assert len(secret) == 64
    assert [f for f in os.listdir(home) if f.endswith(".tmp")] == []


def test_no_resource_warning_in_dev_mode(listener, home, tmp_path):
    # python -X dev -W error (what careful projects run their tests with): the socket is closed
    # once the end went out, so the garbage collector finds nothing open to warn about.
    script = tmp_path / "t.py"
    script.write_text("import gc, sys, usage_beacon\nb = usage_beacon.start(project='t')\nb.end(2)\n"
                      "del b\ngc.collect()\nc = usage_beacon.start(project='t')\nprint('ok')\n")
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    p = subprocess.run([sys.executable, "-X", "dev", "-W", "error", str(script)], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr
    assert "Warning" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    listener.wait_for(8)
    ends = sorted(m["exit"] for m in listener.messages() if m["kind"] == "end")
    assert ends == [0, 0, 2, 2]
