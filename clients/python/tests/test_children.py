"""A forked or multiprocessing child sends nothing of its own: only the parent's run is counted."""
import pytest

from conftest import clean_env, run_py, starts_and_ends

FORK = """
import os, sys
import usage_beacon
b = usage_beacon.start(project="hosttool")
pid = os.fork()
if pid == 0:
    # The child inherits the atexit handler, the socket and the open run; it ends normally
    # (atexit runs), tries an explicit end and a start of its own: none of it may send.
    c = usage_beacon.start(project="hosttool")
    print("child start enabled=%s" % c.enabled, flush=True)
    b.end(5)
    usage_beacon.end(6)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
print("child status", status, flush=True)
sys.exit(3)
"""


def test_forked_child_sends_nothing(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(FORK, env)
    assert code == 3, err
    assert "child start enabled=False" in out and "child status 0" in out
    start, end = starts_and_ends(listener)
    listener.settle(0.3)
    assert len(listener.datagrams) == 4
    assert end["exit"] == 3
    assert {m["run"] for m in listener.messages()} == {start["run"]}


MP = """
import multiprocessing as mp, sys
import usage_beacon

def work(x):
    # A library that starts the beacon when imported or used runs this in the child too.
    c = usage_beacon.start(project="hosttool")
    if x == 1:
        raise SystemExit(4)
    return (x, c.enabled)

if __name__ == "__main__":
    b = usage_beacon.start(project="hosttool")
    ctx = mp.get_context(sys.argv[1])
    pool = ctx.Pool(2)
    print(sorted(pool.map(work, [0, 2, 3])), flush=True)
    # close + join: the workers exit normally (their atexit runs with the beacon inherited), so a
    # beacon that kept a worker alive hangs here. (terminate(), which `with Pool` calls, has a
    # CPython race of its own under load; SIGTERM in a forked child is tested below.)
    pool.close(); pool.join()
    p = ctx.Process(target=work, args=(1,))
    p.start(); p.join()
    print("process exitcode", p.exitcode, flush=True)
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children_send_nothing(listener, home, method):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(MP, env, args=[method], timeout=60)
    assert code == 0, err
    assert "[(0, False), (2, False), (3, False)]" in out
    assert "process exitcode 4" in out
    start, end = starts_and_ends(listener)
    listener.settle(0.3)
    assert len(listener.datagrams) == 4, listener.messages()
    assert end["exit"] == 0


SIGTERM_CHILD = """
import os, signal, sys, time
import usage_beacon
b = usage_beacon.start(project="hosttool")
pid = os.fork()
if pid == 0:
    # The default again, not the parent's Python-level handler: nothing of ours stands between a
    # worker blocked in C and the kernel's SIGTERM.
    print("child handler default", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
    time.sleep(30)  # a pool worker waiting for work when its pool terminates it
    os._exit(0)
time.sleep(0.2)
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print("child signalled", os.WIFSIGNALED(status) and os.WTERMSIG(status), flush=True)
"""


def test_forked_child_dies_of_sigterm_as_without_the_beacon(listener, home):
    """The parent's SIGTERM handler is not the child's: a forked child (a pool worker) dies of
    SIGTERM at once, as it would without the beacon, and sends nothing."""
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, out, err, _ = run_py(SIGTERM_CHILD, env, timeout=20)
    assert code == 0, err
    assert "child handler default True" in out
    assert "child signalled 15" in out
    start, end = starts_and_ends(listener)
    listener.settle(0.3)
    assert len(listener.datagrams) == 4
    assert end["exit"] == 0
