"""Every way a Python program ends, each in a real child process: the end datagram carries the
status Python reports, the host's own excepthook / atexit / signal handlers still run, and the
host's exit status and stdout are exactly what they would be without the beacon."""
import signal
import time

import pytest

from conftest import clean_env, run_py, starts_and_ends

HOST = """
import atexit, os, signal, sys, time
def host_atexit():
    sys.stdout.write("host atexit ran\\n")
atexit.register(host_atexit)
{before}
import usage_beacon
b = usage_beacon.start(project="hosttool", version="1.0")
assert b.enabled, b.reason
{after}
"""

CASES = [
    # name, code after start(), expected child returncode, expected end exit
    ("natural end", "print('done')", 0, 0),
    ("sys.exit(3)", "sys.exit(3)", 3, 3),
    ("raise SystemExit(5)", "raise SystemExit(5)", 5, 5),
    ("sys.exit() no argument", "sys.exit()", 0, 0),
    ("sys.exit(None)", "sys.exit(None)", 0, 0),
    ("sys.exit('message') → 1", "sys.exit('fatal: bad input')", 1, 1),
    ("exit(4) (site builtin)", "exit(4)", 4, 4),
    ("sys.exit(256+7) truncates like the OS", "sys.exit(263)", 7, 7),
    ("sys.exit inside a function", "def main():\n    sys.exit(9)\nmain()", 9, 9),
    ("uncaught exception → 1", "raise RuntimeError('host failed')", 1, 1),
    ("KeyboardInterrupt raised → 130", "raise KeyboardInterrupt", -signal.SIGINT, 130),
    ("SystemExit caught, program goes on → 0",
     "try:\n    sys.exit(3)\nexcept SystemExit:\n    pass\ntry:\n    raise SystemExit(6)\nexcept SystemExit as e:\n    print('caught', e.code)", 0, 0),
    ("excepthook called by the host itself to log, program goes on → 0",
     "try:\n    1/0\nexcept ZeroDivisionError:\n    sys.excepthook(*sys.exc_info())", 0, 0),
    ("exception caught then sys.exit(2)",
     "try:\n    raise ValueError('x')\nexcept ValueError:\n    sys.exit(2)", 2, 2),
    ("non-daemon thread still running at the end: end after it",
     "import threading\nthreading.Thread(target=lambda: time.sleep(0.3)).start()", 0, 0),
    ("sys.exit in a thread is not the program's exit",
     "import threading\nt = threading.Thread(target=lambda: sys.exit(7)); t.start(); t.join()", 0, 0),
    ("host sys.excepthook replaced after start: still 1",
     "def hook(t, v, tb):\n    sys.stderr.write('host hook after\\n')\nsys.excepthook = hook\nraise RuntimeError('x')", 1, 1),
]


@pytest.mark.parametrize("name,after,rc,exit_code", CASES, ids=[c[0] for c in CASES])
def test_end_carries_the_status(listener, home, name, after, rc, exit_code):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(HOST.format(before="", after=after), env)
    assert code == rc, err
    start, end = starts_and_ends(listener)
    assert end["exit"] == exit_code
    assert isinstance(end["dur_ms"], int) and end["dur_ms"] >= 0
    assert start["project"] == "hosttool" and start["runtime"].startswith("python/")
    # the host's own atexit ran (except when the process died of SIGINT, which still runs atexit in Python)
    assert "host atexit ran" in out
    assert "usage-beacon" not in out  # nothing of ours on stdout
    if "uncaught" in name:
        assert "RuntimeError: host failed" in err  # Python's own report, unchanged


def test_host_excepthook_installed_before_start_still_runs(listener, home):
    before = "def hook(t, v, tb):\n    sys.stdout.write('host excepthook ran: %s\\n' % t.__name__)\nsys.excepthook = hook"
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(HOST.format(before=before, after="raise LookupError('x')"), env)
    assert code == 1
    assert "host excepthook ran: LookupError" in out
    _, end = starts_and_ends(listener)
    assert end["exit"] == 1


WAIT = "print('ready', flush=True)\ntime.sleep(30)\nprint('not reached')"


def test_sigterm_without_host_handler_dies_of_it_and_reports_143(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(HOST.format(before="", after=WAIT), env,
                               on_ready=lambda p: p.send_signal(signal.SIGTERM))
    assert code == -signal.SIGTERM  # killed by the signal, exactly as without the beacon
    assert "not reached" not in out
    _, end = starts_and_ends(listener)
    assert end["exit"] == 143


def test_sighup_without_host_handler_reports_129(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, _, _, _ = run_py(HOST.format(before="", after=WAIT), env,
                           on_ready=lambda p: p.send_signal(signal.SIGHUP))
    assert code == -signal.SIGHUP
    _, end = starts_and_ends(listener)
    assert end["exit"] == 129


def test_sigint_is_keyboardinterrupt_130(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, _, err, _ = run_py(HOST.format(before="", after=WAIT), env,
                             on_ready=lambda p: p.send_signal(signal.SIGINT))
    assert code == -signal.SIGINT
    assert "KeyboardInterrupt" in err
    _, end = starts_and_ends(listener)
    assert end["exit"] == 130


def test_host_sigterm_handler_installed_before_start_decides(listener, home):
    before = ("def on_term(sig, frame):\n    sys.stdout.write('host handler ran\\n')\n    sys.exit(42)\n"
              "signal.signal(signal.SIGTERM, on_term)")
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, _, _ = run_py(HOST.format(before=before, after=WAIT), env,
                             on_ready=lambda p: p.send_signal(signal.SIGTERM))
    assert code == 42
    assert "host handler ran" in out and "host atexit ran" in out
    _, end = starts_and_ends(listener)
    assert end["exit"] == 42


def test_host_sigterm_handler_installed_after_start_decides(listener, home):
    after = ("def on_term(sig, frame):\n    sys.stdout.write('host handler ran\\n')\n    raise SystemExit(17)\n"
             "signal.signal(signal.SIGTERM, on_term)\n" + WAIT)
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, _, _ = run_py(HOST.format(before="", after=after), env,
                             on_ready=lambda p: p.send_signal(signal.SIGTERM))
    assert code == 17 and "host handler ran" in out
    _, end = starts_and_ends(listener)
    assert end["exit"] == 17


def test_sigterm_ignored_by_host_stays_ignored(listener, home):
    before = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    after = "print('ready', flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(0.2)\nprint('survived')"
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, _, _ = run_py(HOST.format(before=before, after=after), env)
    assert code == 0 and "survived" in out
    _, end = starts_and_ends(listener)
    assert end["exit"] == 0


def test_explicit_end_once_and_no_second_end_at_exit(listener, home):
    after = "print(b.end(4), b.end(5), usage_beacon.end(6))\nsys.exit(9)"
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, _, _ = run_py(HOST.format(before="", after=after), env)
    assert code == 9
    assert out.startswith("True False False")
    _, end = starts_and_ends(listener)
    assert end["exit"] == 4
    listener.settle(0.3)
    assert len(listener.datagrams) == 4


def test_module_level_end_for_tools_with_their_own_lifecycle(listener, home):
    after = "usage_beacon.end(3)\nprint('ended')"
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, _, _ = run_py(HOST.format(before="", after=after), env)
    assert code == 0 and "ended" in out
    _, end = starts_and_ends(listener)
    assert end["exit"] == 3


def test_two_runs_in_one_process_each_end_once(listener, home):
    after = ("c = usage_beacon.start(project='hosttool', version='1.0')\n"
             "c.end(2)\nsys.exit(1)")
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, _, _, _ = run_py(HOST.format(before="", after=after), env)
    assert code == 1
    listener.wait_for(8)
    listener.settle(0.2)
    msgs = listener.messages()
    ends = {}
    for m in msgs:
        if m["kind"] == "end":
            ends.setdefault(m["run"], set()).add(m["exit"])
    assert sorted(tuple(v) for v in ends.values()) == [(1,), (2,)]
    assert len(msgs) == 8


@pytest.mark.parametrize("after,rc", [("sys.exit(3)", 3), ("raise ValueError('x')", 1), ("pass", 0)])
def test_tool_cleanup_at_atexit_ending_with_no_code_reports_the_real_status(listener, home, after, rc):
    # A DataFlowKernel-like tool: its cleanup is registered with atexit after start() (so it runs
    # before the beacon's own handler) and calls end() without a code.
    body = "def cleanup():\n    sys.stdout.write('tool cleanup %s\\n' % b.end())\natexit.register(cleanup)\n" + after
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, _, _ = run_py(HOST.format(before="", after=body), env)
    assert code == rc
    assert "tool cleanup True" in out
    _, end = starts_and_ends(listener)
    assert end["exit"] == rc
    listener.settle(0.2)
    assert len(listener.datagrams) == 4


@pytest.mark.parametrize("after,rc,reported", [("sys.exit(3)", 3, 3), ("raise SystemExit(5)", 5, 0), ("pass", 0, 0)])
def test_without_the_probe_sys_exit_is_still_reported(listener, home, after, rc, reported):
    # Where the SystemExit probe cannot be installed (an interpreter other than CPython), the
    # sys.exit wrapper alone reports sys.exit(n); a bare `raise SystemExit(n)` then reads as 0.
    before = "import usage_beacon\nusage_beacon._install_exit_code_probe = lambda: False"
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, _, _, _ = run_py(HOST.format(before=before, after=after), env)
    assert code == rc
    _, end = starts_and_ends(listener)
    assert end["exit"] == reported
