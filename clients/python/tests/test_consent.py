"""Opt-outs and the site policy: opted out means no socket, no file and no hash; a user's own
opt-out always wins; `beacon disable` / `enable` (the Node CLI) are honoured on the same file."""
import json
import os
import subprocess

import pytest

from conftest import CLI, clean_env, run_py, starts_and_ends

# An audit hook records every socket the child creates, every file it opens outside the Python
# installation, and whether an HMAC was computed: "no socket, no file, no hash" checked from inside.
AUDITED = """
import sys
events = []
def audit(event, args):
    if event == "socket.__new__":
        events.append("socket")
    elif event == "open" and isinstance(args[0], str) and not args[0].startswith(sys.prefix) and not args[0].endswith((".py", ".pyc")):
        events.append("open " + args[0])
sys.addaudithook(audit)
import usage_beacon
b = usage_beacon.start(project="hosttool", version="1.0", opt_out_env={optenv!r})
print("enabled=%s reason=%s" % (b.enabled, b.reason))
print("events=%r" % [e for e in events if "usage-beacon-site" not in e or {site_read_ok}])
print("hmac imported=%s" % ("hmac" in sys.modules))
"""


def audited(optenv="PARSL_TRACKING", site_read_ok=True):
    return AUDITED.format(optenv=optenv, site_read_ok=site_read_ok)


@pytest.mark.parametrize("extra,optenv,reason", [
    ({"PARSL_TRACKING": "false"}, "PARSL_TRACKING", "PARSL_TRACKING=false"),
    ({"PARSL_TRACKING": " OFF "}, "PARSL_TRACKING", "PARSL_TRACKING= OFF "),
    ({"PARSL_TRACKING": "0"}, "PARSL_TRACKING", "PARSL_TRACKING=0"),
    ({"MYTOOL_TRACKING": "no"}, "MYTOOL_TRACKING", "MYTOOL_TRACKING=no"),
    ({"DO_NOT_TRACK": "1"}, "PARSL_TRACKING", "DO_NOT_TRACK=1"),
    ({"DO_NOT_TRACK": "true", "PARSL_TRACKING": "on"}, "PARSL_TRACKING", "DO_NOT_TRACK=true"),
])
def test_env_opt_out_leaves_no_trace(listener, home, extra, optenv, reason):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, **extra)
    code, out, err, _ = run_py(audited(optenv, site_read_ok=False), env)
    assert code == 0, err
    assert "enabled=False reason=%s in the environment" % reason in out
    assert "events=[]" in out  # no socket, no file (not even the site policy file)
    assert "hmac imported=False" in out  # no hash
    assert err == ""
    assert not os.path.exists(home)
    listener.settle(0.3)
    assert listener.datagrams == []


def test_tools_own_variable_does_not_opt_out_of_another_tool(listener, home):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, MYTOOL_TRACKING="off")
    code, out, _, _ = run_py(audited("PARSL_TRACKING"), env)
    assert "enabled=True" in out
    starts_and_ends(listener)


def node_cli(args, env):
    return subprocess.run(["node", CLI] + args, env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture
def built():
    if not os.path.exists(CLI):
        pytest.fail("dist/cli/beacon.js is missing: run `npm run build` first")


def test_beacon_disable_from_node_is_honoured_and_file_untouched(listener, home, built):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector)
    r = node_cli(["disable"], env)
    assert r.returncode == 0, r.stderr
    path = os.path.join(home, "state.json")
    before = open(path, "rb").read()
    mtime = os.stat(path).st_mtime_ns
    code, out, err, _ = run_py(audited(), env)
    assert "enabled=False reason=disabled by `beacon disable` (%s)" % path in out
    assert "socket" not in out and "hmac imported=False" in out
    assert open(path, "rb").read() == before and os.stat(path).st_mtime_ns == mtime
    listener.settle(0.3)
    assert listener.datagrams == []
    # PARSL_TRACKING=on beats `beacon disable`; `beacon enable` undoes it
    env_on = dict(env, PARSL_TRACKING="on")
    code, out, _, _ = run_py(audited(), env_on)
    assert "enabled=True reason=PARSL_TRACKING=on in the environment" in out
    starts_and_ends(listener)
    assert node_cli(["enable"], env).returncode == 0
    code, out, _, _ = run_py(audited(), env)
    assert "enabled=True reason=enabled by `beacon enable`" in out


def site_file(tmp_path, content):
    p = tmp_path / "site.json"
    p.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(p)


def test_site_policy_off_for_everyone(listener, home, tmp_path):
    site = site_file(tmp_path, {"tracking": " OFF ", "collector": "bad spec with spaces", "typo": 1})
    for extra in ({}, {"PARSL_TRACKING": "on"}):  # a user cannot turn it back on
        env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, BEACON_SITE_CONFIG=site, **extra)
        code, out, err, _ = run_py(audited(), env)
        assert "enabled=False reason=turned off for all users by the site policy (%s)" % site in out
        assert "socket" not in out and "hmac imported=False" in out and err == ""
        assert not os.path.exists(home)
    listener.settle(0.3)
    assert listener.datagrams == []


def test_site_collector_redirects_every_tool(listener, home, tmp_path):
    from conftest import Listener
    tools_default = Listener()
    try:
        site = site_file(tmp_path, {"collector": listener.collector,
                                    "notice": "Runs on Cluster X are counted\x1b[31m for our funder.\nQuestions: hpc@example.org"})
        env = clean_env(BEACON_HOME=home, BEACON_SITE_CONFIG=site, TOOL_COLLECTOR=tools_default.collector)
        code, out, err, _ = run_py("""
import usage_beacon, os
usage_beacon.start(project="hosttool", collector=os.environ["TOOL_COLLECTOR"])
""", env)
        assert code == 0
        starts_and_ends(listener)
        assert ("This notice is shown once.\nFrom your site's administrators (%s):\n"
                "  Runs on Cluster X are counted for our funder.\n  Questions: hpc@example.org\n\n" % site) in err
        assert "Datagrams go to %s" % listener.collector in err
        listener.settle(0.2)
        assert tools_default.datagrams == []
        # the user's own BEACON_COLLECTOR is the user's choice, not the tool's: it still wins
        env["BEACON_COLLECTOR"] = tools_default.collector
        run_py("import usage_beacon\nusage_beacon.start(project='hosttool', collector='192.0.2.1:9')", env)
        tools_default.wait_for(4)
    finally:
        tools_default.close()


def test_users_opt_out_beats_a_site_redirect(listener, home, tmp_path):
    site = site_file(tmp_path, {"tracking": "on", "collector": listener.collector})
    env = clean_env(BEACON_HOME=home, BEACON_SITE_CONFIG=site, PARSL_TRACKING="off")
    code, out, _, _ = run_py(audited(site_read_ok=False), env)
    assert "enabled=False" in out and "events=[]" in out
    listener.settle(0.3)
    assert listener.datagrams == []


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"tracking": "sometimes"}', '{"collector": 5}',
                                     '{"colector": "relay:50077"}', '{"notice": 7}'])
def test_malformed_site_file_ignored_with_one_line_once_per_user(listener, home, tmp_path, content):
    site = site_file(tmp_path, content)
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, BEACON_SITE_CONFIG=site)
    code, out, err, _ = run_py(audited(), env)
    assert code == 0 and "enabled=True" in out
    warn = [l for l in err.splitlines() if "site policy" in l]
    assert len(warn) == 1 and warn[0].startswith("usage-beacon: ignoring the site policy %s: " % site)
    assert warn[0].endswith("(reported once)")
    starts_and_ends(listener)
    code, out, err2, _ = run_py(audited(), env)
    assert code == 0 and "enabled=True" in out
    assert "site policy" not in err2  # once per user
    assert err2 == ""  # and the notice was shown once too


def test_site_directory_or_unreadable_is_ignored_not_fatal(listener, home, tmp_path):
    env = clean_env(BEACON_HOME=home, BEACON_COLLECTOR=listener.collector, BEACON_SITE_CONFIG=str(tmp_path))
    code, out, err, _ = run_py(audited(), env)
    assert code == 0 and "enabled=True" in out
    assert "usage-beacon: ignoring the site policy %s: cannot read it (EISDIR) (reported once)" % tmp_path in err
    starts_and_ends(listener)
