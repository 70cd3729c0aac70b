"""`python -m usage_beacon disable` / `enable`: the Node CLI's state file and format, honoured both
ways; a corrupt state file refused and left alone; the notice's commands run as printed."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

from conftest import CLI, SRC, clean_env, run_py, starts_and_ends
from test_consent import audited, built, node_cli  # noqa: F401  (built is a fixture)


def py_cli(args, env, cwd=None):
    return subprocess.run([sys.executable, "-m", "usage_beacon"] + list(args), env=env, capture_output=True,
                          text=True, timeout=30, cwd=cwd)


def no_tmp_left(home):
    return [f for f in os.listdir(home) if f.endswith(".tmp")] == []


def test_disable_then_start_sends_nothing_touches_nothing_and_enable_reverses_it(listener, home, tmp_path):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    path = os.path.join(home, "state.json")
    r = py_cli(["disable"], env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "usage tracking disabled for this user (%s)\n" % path and r.stderr == ""
    assert json.load(open(path)) == {"v": 1, "enabled": False}  # what `beacon disable` writes on a fresh home
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert no_tmp_left(home)
    before, mtime = open(path, "rb").read(), os.stat(path).st_mtime_ns
    code, out, err, _ = run_py(audited(), env)
    assert code == 0 and err == ""  # no notice either
    assert "enabled=False reason=disabled by `beacon disable` (%s)" % path in out
    assert "socket" not in out and "hmac imported=False" in out
    assert "open %s" % path in out and out.count("open ") == 1  # read the state file, nothing else
    assert open(path, "rb").read() == before and os.stat(path).st_mtime_ns == mtime
    assert sorted(os.listdir(home)) == ["state.json"]
    listener.settle(0.3)
    assert listener.datagrams == []

    r = py_cli(["enable"], env)
    assert r.returncode == 0 and r.stdout == "usage tracking enabled for this user (%s)\n" % path and r.stderr == ""
    assert json.load(open(path)) == {"v": 1, "enabled": True}
    code, out, err, _ = run_py(audited(), env)
    assert "enabled=True reason=enabled by `beacon enable` (%s)" % path in out
    start, end = starts_and_ends(listener)
    state = json.load(open(path))
    assert state["enabled"] is True and len(state["secret"]) == 64 and "hosttool" in state["noticed"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_disable_keeps_the_secret_and_everything_else_so_ids_survive(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    run_py(audited(), env)
    first, _ = starts_and_ends(listener)
    path = os.path.join(home, "state.json")
    state = json.load(open(path))
    state["from_a_newer_emitter"] = {"kept": 1}
    open(path, "w").write(json.dumps(state))
    assert py_cli(["disable"], env).returncode == 0
    after = json.load(open(path))
    assert after == dict(state, enabled=False)
    assert py_cli(["enable"], env).returncode == 0
    listener.datagrams[:] = []
    run_py(audited(), env)
    second, _ = starts_and_ends(listener)
    assert second["user"] == first["user"] and second["host"] == first["host"]


def test_python_disable_honoured_by_node_and_node_disable_by_python(listener, home, built):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    path = os.path.join(home, "state.json")
    assert py_cli(["disable"], env).returncode == 0
    r = node_cli(["preview", "--project", "hosttool"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tracking:    off \u2014 disabled by `beacon disable` (state file)\n")
    r = node_cli(["run", "--project", "hosttool", "--collector", listener.collector, "--", "sh", "-c", "exit 3"], env)
    assert r.returncode == 3 and r.stderr == ""
    listener.settle(0.3)
    assert listener.datagrams == []
    assert py_cli(["enable"], env).returncode == 0
    r = node_cli(["preview", "--project", "hosttool"], env)
    assert r.stdout.startswith("tracking:    on \u2014 enabled by `beacon enable` (state file)\n")
    r = node_cli(["run", "--project", "hosttool", "--collector", listener.collector, "--", "sh", "-c", "exit 3"], env)
    assert r.returncode == 3
    _, end = starts_and_ends(listener)
    assert end["exit"] == 3
    # and the other way: Node's disable, Python's preview and start
    assert node_cli(["disable"], env).returncode == 0
    p = py_cli(["preview"], env)
    assert p.stdout.startswith("tracking:    off \u2014 disabled by `beacon disable` (state file)\n")
    code, out, _, _ = run_py(audited(), env)
    assert "enabled=False reason=disabled by `beacon disable` (%s)" % path in out
    # Node's enable on Python's file: the secret Python created stays (one user ID for both)
    secret = json.load(open(path))["secret"]
    assert node_cli(["enable"], env).returncode == 0
    assert json.load(open(path))["secret"] == secret


@pytest.mark.parametrize("extra,site,args", [
    ({}, None, ["disable"]),
    ({}, None, ["enable"]),
    ({"PARSL_TRACKING": "false"}, None, ["enable"]),
    ({"PARSL_TRACKING": "yes"}, None, ["disable"]),
    ({"DO_NOT_TRACK": "1"}, None, ["enable"]),
    ({}, {"tracking": "off"}, ["enable"]),
])
def test_same_words_as_node(home, tmp_path, built, extra, site, args):
    """Each CLI prints what the other does: the confirmation line and the notes, byte for byte."""
    if site is not None:
        p = tmp_path / "site.json"
        p.write_text(json.dumps(site))
        extra = dict(extra, BEACON_SITE_CONFIG=str(p))
    outs = []
    for run in (py_cli, node_cli):
        env = clean_env(BEACON_HOME=home, **extra)
        r = run(args, env)
        assert r.returncode == 0 and r.stderr == ""
        outs.append((r.stdout, json.load(open(os.path.join(home, "state.json")))))
        shutil.rmtree(home)
    assert outs[0] == outs[1]
    assert outs[0][0].count("\n") == 1 + (1 if extra.get("PARSL_TRACKING") or extra.get("DO_NOT_TRACK") or site else 0)


@pytest.mark.parametrize("content", [b"{bad", b"", b"[1, 2]", b"null", b"\xff\xfe not utf-8", "dir"])
def test_corrupt_state_file_refused_one_line_nonzero_untouched(home, built, content):
    os.makedirs(home, 0o700)
    path = os.path.join(home, "state.json")
    if content == "dir":
        os.mkdir(path)
        open(os.path.join(path, "inside"), "w").write("x")
    else:
        open(path, "wb").write(content)
    snapshot = lambda: (sorted(os.listdir(home)), None if content == "dir" else open(path, "rb").read(),
                        os.stat(path).st_mtime_ns)
    before = snapshot()
    env = clean_env(BEACON_HOME=home)
    for args in (["disable"], ["enable"]):
        r = py_cli(args, env)
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n")
        assert re.match(r"^usage_beacon: cannot use the state file %s \((not valid JSON|not a JSON object|EISDIR)\); "
                        r"fix or delete it \[BEACON_ERR_STATE_FILE\]\n$" % re.escape(path), r.stderr), r.stderr
        assert snapshot() == before
        n = node_cli(args, env)  # Node refuses the same file, with the same code
        assert n.returncode == 1 and "[BEACON_ERR_STATE_FILE]" in n.stderr
        assert snapshot() == before


def test_unwritable_state_directory_one_line_nonzero(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = clean_env(BEACON_HOME=str(blocker / "beacon"))
    r = py_cli(["disable"], env)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("usage_beacon: cannot write the state file %s (ENOTDIR) [BEACON_ERR_STATE_FILE]\n"
                        % (blocker / "beacon" / "state.json"))
    assert blocker.read_text() == "not a directory"


def test_usage_error_is_not_a_consent_change(home):
    r = py_cli(["disabel"], clean_env(BEACON_HOME=home))
    assert r.returncode == 2 and r.stdout == ""
    assert not os.path.exists(home)


def notice_commands(err):
    preview = re.search(r"See exactly what is sent:  (.+?)   \(or BEACON_DEBUG=1", err).group(1)
    opt = re.search(r"Opt out:  export (\w+)=(\w+)   or   DO_NOT_TRACK=1   or   (.+)\n", err)
    return preview, opt.group(1), opt.group(2), opt.group(3)


START = "import usage_beacon\nb = usage_beacon.start(project='hosttool', version='1.0')\nprint('enabled=%s' % b.enabled)\n"


@pytest.mark.parametrize("path_kind", ["as-is", "minimal"])
def test_the_notice_commands_work_as_printed(listener, home, tmp_path, path_kind):
    """The reader copies each command from the notice into a shell: each does what it says."""
    extra = {} if path_kind == "as-is" else {"PATH": "/usr/bin:/bin"}  # this interpreter not on PATH
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, **extra)
    code, out, err, script = run_py(START, env, script_dir=str(tmp_path))
    assert out == "enabled=True\n"
    preview, var, value, disable = notice_commands(err)
    assert (var, value) == ("PARSL_TRACKING", "false")
    assert preview.endswith(" -m usage_beacon preview --project hosttool")
    assert disable.endswith(" -m usage_beacon disable")
    if path_kind == "minimal" and not os.path.exists("/usr/bin/" + os.path.basename(sys.executable)):
        assert disable.startswith(sys.executable)  # not on PATH: the full path, which works
    starts_and_ends(listener)
    sh = lambda cmd: subprocess.run(["sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=30,
                                    cwd=str(tmp_path))
    r = sh(preview)
    assert r.returncode == 0 and r.stdout.startswith("tracking:    on \u2014 default (no opt-out set)\n"), r.stderr
    assert "opt out:     PARSL_TRACKING=false, DO_NOT_TRACK=1, or `%s`\n" % disable in r.stdout
    # export VAR=false, then the tool: nothing
    listener.datagrams[:] = []
    r = sh("export %s=%s; %s %s" % (var, value, sys.executable, script))
    assert r.stdout == "enabled=False\n"
    # the opt-out command, then the tool: nothing, for good
    r = sh(disable)
    assert r.returncode == 0 and r.stdout.startswith("usage tracking disabled for this user"), r.stderr
    r = sh("%s %s" % (sys.executable, script))
    assert r.stdout == "enabled=False\n"
    listener.settle(0.3)
    assert listener.datagrams == []


def test_tool_names_its_own_opt_out_command(listener, home, tmp_path):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    code, _, err, _ = run_py("import usage_beacon\nusage_beacon.start(project='mytool', opt_out_env='MYTOOL_TRACKING',"
                             " opt_out_command='mytool telemetry off')\n", env)
    assert "  Opt out:  export MYTOOL_TRACKING=false   or   DO_NOT_TRACK=1   or   mytool telemetry off\n" in err
    # $BEACON_OPT_OUT_COMMAND when the tool names none; the tool's own argument beats it
    env2 = clean_env(BEACON_HOME=str(tmp_path / "h2"), BEACON_COLLECTOR=listener.collector,
                     BEACON_OPT_OUT_COMMAND="site-tool optout")
    _, _, err, _ = run_py("import usage_beacon\nusage_beacon.start(project='a')\n", env2)
    assert "or   site-tool optout\n" in err
    _, _, err, _ = run_py("import usage_beacon\nusage_beacon.start(project='b', opt_out_command='b off')\n", env2)
    assert "or   b off\n" in err and "site-tool" not in err
    p = py_cli(["preview"], env2)
    assert "opt out:     PARSL_TRACKING=false, DO_NOT_TRACK=1, or `site-tool optout`\n" in p.stdout


def test_vendored_copy_prints_commands_that_run_that_copy(listener, home, tmp_path):
    vendor = tmp_path / "mytool" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "mytool" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copy(os.path.join(SRC, "usage_beacon.py"), str(vendor / "usage_beacon.py"))
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, PYTHONPATH=str(tmp_path))
    code, out, err, _ = run_py("from mytool._vendor import usage_beacon\nusage_beacon.start(project='mytool')\n",
                               env, cwd=str(tmp_path))
    assert code == 0, err
    preview, _, _, disable = notice_commands(err)
    assert disable.endswith(" -m mytool._vendor.usage_beacon disable")
    r = subprocess.run(["sh", "-c", disable], env=env, capture_output=True, text=True, timeout=30, cwd="/")
    assert r.returncode == 0, r.stderr
    assert json.load(open(os.path.join(home, "state.json")))["enabled"] is False
