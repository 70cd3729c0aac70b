"""usage-beacon for Python: opt-out, anonymous usage telemetry for a tool, in two calls.

    import usage_beacon
    beacon = usage_beacon.start(project="parsl", version="2025.1.6",
                                collector="usage.example.org:50077",
                                opt_out_env="PARSL_TRACKING",
                                components={"executors": 2})
    ...                       # the end (exit status, duration) goes out by itself at exit,
    beacon.end(0)             # or here, for a tool that manages its own lifecycle

One UDP datagram when a run starts, one when it ends (each sent twice), in usage-beacon's wire
protocol v1 (docs/protocol.md): byte for byte what the Node emitter sends, with the same
anonymized user, host and script IDs, derived from the same per-user state file
(~/.config/usage-beacon/state.json). Standard library only, Python >= 3.8, one file: a tool may
vendor it. It never starts a process, never blocks on the network (DNS runs on a daemon thread and
the exit path waits for it at most EXIT_DNS_WAIT_S), writes nothing to stdout, and no exception
ever escapes into the host. Opted out (the tool's variable, DO_NOT_TRACK=1, `beacon disable`, or
the site policy file) means no socket, no file and no hash.

`python -m usage_beacon preview` prints the decision and the exact bytes a run would send;
`python -m usage_beacon disable` / `enable` persist a user's choice in the same state file (and
format) as the Node CLI's `beacon disable` / `enable`, so either one is honoured by both.
"""

import atexit
import json
import os
import re
import sys
import threading
import time

__version__ = "0.1.0"
__all__ = ["start", "end", "preview", "consent_command", "StateFileError", "Beacon", "PROTOCOL_VERSION"]

# --- wire protocol v1 (src/protocol/limits.ts is the reference; keep these equal) ---------------
PROTOCOL_VERSION = 1
MAX_DATAGRAM_BYTES = 1200
MAX_COMPONENTS = 16
MAX_COMPONENT_STRING_LENGTH = 64
MAX_LABEL_LENGTH = 64
MAX_PLATFORM_LENGTH = 32
ID_HEX_LENGTH = 32
DEFAULT_COPIES = 2
MAX_COPIES = 5
DEFAULT_PORT = 50077
DEFAULT_COLLECTOR = "127.0.0.1:%d" % DEFAULT_PORT
DEFAULT_OPT_OUT_ENV = "PARSL_TRACKING"
STATE_FILE_NAME = "state.json"
SITE_CONFIG_PATH = "/etc/usage-beacon/site.json"
# Room kept for the end-only fields when trimming components (encode.ts END_SUFFIX_RESERVE).
_END_SUFFIX_RESERVE = 64
# The collector-address cache in the state file (collector-cache.ts).
_CACHE_MAX_AGE_MS = 7 * 24 * 3600 * 1000
_CACHE_REFRESH_MS = 3600 * 1000

#: The longest the exit path waits for a collector hostname that has not resolved yet (seconds).
#: After it, the run's datagrams are dropped: telemetry never delays a host's exit for longer.
EXIT_DNS_WAIT_S = 0.005

# Character-set checks rather than regular expressions on the start path: compiling a pattern
# costs 0.1-0.3 ms the first time in a process, more than everything else start() does.
_FALSY = ("false", "0", "no", "off")
_TRUTHY = ("true", "1", "yes", "on")
_HEX = frozenset("0123456789abcdef")
_DIGITS = frozenset("0123456789")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _is_hex(s, n):
    return isinstance(s, str) and len(s) == n and _HEX.issuperset(s)


def _is_component_key(k):
    return 1 <= len(k) <= 32 and _KEY_CHARS.issuperset(k)


def _is_array_index(k):
    return k != "" and _DIGITS.issuperset(k) and (k == "0" or k[0] != "0") and int(k) < 2 ** 32 - 1

_CI_VARIABLES = (
    "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "BUILDKITE", "JENKINS_URL", "TF_BUILD",
    "BITBUCKET_BUILD_NUMBER", "TEAMCITY_VERSION", "CODEBUILD_BUILD_ID", "APPVEYOR", "DRONE",
    "SEMAPHORE", "CI_NAME", "WOODPECKER",
)


# --- JSON exactly as JavaScript's JSON.stringify writes it ----------------------------------------
# Byte compatibility with the Node emitter: numbers, string escapes, key order and string lengths
# follow JavaScript (UTF-16 code units), not Python's defaults.

def _utf16_units(s):
    """The string as JavaScript sees it: a list of UTF-16 code units (as one-char strings)."""
    out = []
    for ch in s:
        o = ord(ch)
        if o > 0xFFFF:
            o -= 0x10000
            out.append(chr(0xD800 + (o >> 10)))
            out.append(chr(0xDC00 + (o & 0x3FF)))
        else:
            out.append(ch)
    return out


def _js_slice(s, n):
    """JavaScript's s.slice(0, n): counts UTF-16 code units, may split a surrogate pair."""
    if len(s) <= n // 2 or all(ord(c) <= 0xFFFF for c in s):
        return s[:n]
    units = _utf16_units(s)[:n]
    # Re-pair the surrogates that stayed together; a lone one stays lone (escaped on output).
    out = []
    i = 0
    while i < len(units):
        a = ord(units[i])
        if 0xD800 <= a <= 0xDBFF and i + 1 < len(units) and 0xDC00 <= ord(units[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((a - 0xD800) << 10) + (ord(units[i + 1]) - 0xDC00)))
            i += 2
        else:
            out.append(units[i])
            i += 1
    return "".join(out)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _js_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF:
            out.append("\\u%04x" % o)  # control characters and lone surrogates, lowercase like V8
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _js_number(x):
    """Number.prototype.toString for a finite double: shortest round-trip digits, JS exponents."""
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) < 2 ** 53:
        return str(x)
    x = float(x)
    if x == 0:
        return "0"  # also -0, as JSON.stringify writes it
    r = repr(x)  # shortest round-trip, like V8
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    if fp == "0":
        fp = ""
    digits = (ip + fp).lstrip("0")
    # Decimal exponent n such that x = 0.d1d2... * 10^n
    n = len(ip) + e if ip != "0" else e - (len(fp) - len(fp.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e1 = n - 1
    es = ("+" if e1 >= 0 else "-") + str(abs(e1))
    if k == 1:
        return sign + digits + "e" + es
    return sign + digits[0] + "." + digits[1:] + "e" + es


def _js_object_keys(d):
    """Object.keys order: array-index keys ascending first, then the rest in insertion order."""
    idx = []
    rest = []
    for k in d:
        if isinstance(k, str) and _is_array_index(k):
            idx.append(k)
        else:
            rest.append(k)
    idx.sort(key=int)
    return idx + rest


# --- encoding (src/protocol/encode.ts) --------------------------------------------------------------

def clean_label(value, max_len=MAX_LABEL_LENGTH):
    """Printable ASCII without spaces, non-empty, capped: what the schema accepts for a label."""
    s = "" if value is None else (value if isinstance(value, str) else str(value))
    out = []
    for ch in s:
        o = ord(ch)
        if o > 0xFFFF:
            out.append("__")  # two UTF-16 code units, each replaced, as the Node regex does
        elif 0x21 <= o <= 0x7E:
            out.append(ch)
        else:
            out.append("_")
    s = "".join(out)[:max_len]
    return s if s else "unknown"


def sanitize_components(value):
    """At most 16 entries, keys [a-z0-9_.-]{1,32}, finite numbers or strings <= 64; others dropped."""
    if not isinstance(value, dict):
        return None
    out = {}
    for key in _js_object_keys(value):
        if len(out) >= MAX_COMPONENTS:
            break
        if not isinstance(key, str) or not _is_component_key(key):
            continue
        v = value[key]
        if isinstance(v, bool):
            out[key] = 1 if v else 0
        elif isinstance(v, (int, float)):
            try:
                f = float(v)
            except (OverflowError, ValueError):
                continue
            if f != f or f in (float("inf"), float("-inf")):
                continue
            out[key] = v
        elif isinstance(v, str):
            out[key] = _js_slice(v, MAX_COMPONENT_STRING_LENGTH)
    return out or None


def _components_json(c):
    return "{" + ",".join(_js_string(k) + ":" + (_js_string(v) if isinstance(v, str) else _js_number(v))
                          for k, v in c.items()) + "}"


def _identity_json(ident, components):
    s = ('"run":%s,"project":%s,"version":%s,"user":"%s","host":"%s","script":"%s",'
         '"runtime":%s,"os":%s,"arch":%s,"ci":%s') % (
        _js_string(ident["run"]), _js_string(ident["project"]), _js_string(ident["version"]),
        ident["user"], ident["host"], ident["script"], _js_string(ident["runtime"]),
        _js_string(ident["os"]), _js_string(ident["arch"]), "true" if ident["ci"] else "false")
    if ident.get("eph"):
        s += ',"eph":true'
    if components:
        s += ',"components":' + _components_json(components)
    return s


class RunEncoder(object):
    """A run's datagrams, pre-serialized at start: the exit path only formats three integers."""

    def __init__(self, identity):
        ident = dict(identity)
        for k in ("project", "version", "runtime"):
            ident[k] = clean_label(ident.get(k))
        for k in ("os", "arch"):
            ident[k] = clean_label(ident.get(k), MAX_PLATFORM_LENGTH)
        components = sanitize_components(ident.get("components"))
        body = _identity_json(ident, components)
        head_end = '{"v":%d,"kind":"end",' % PROTOCOL_VERSION
        # Drop components from the end until the longest possible end datagram fits.
        while components and len((head_end + body).encode("utf-8", "surrogatepass")) + _END_SUFFIX_RESERVE > MAX_DATAGRAM_BYTES:
            keys = list(components)[:-1]
            components = dict((k, components[k]) for k in keys) or None
            body = _identity_json(ident, components)
        self.components = components
        self._start_prefix = '{"v":%d,"kind":"start",%s,"t":' % (PROTOCOL_VERSION, body)
        self._end_prefix = "%s%s,\"t\":" % (head_end, body)

    def start(self, t_ms):
        return _utf8(self._start_prefix + "%d}" % int(t_ms))

    def end(self, t_ms, exit_code, dur_ms):
        return _utf8(self._end_prefix + '%d,"exit":%d,"dur_ms":%d}' % (
            int(t_ms), int(exit_code) & 255, max(0, int(dur_ms + 0.5) if dur_ms >= 0 else 0)))


def _utf8(s):
    # A lone surrogate has already been written as a \u escape by _js_string; nothing else can fail.
    return s.encode("utf-8")


# --- IDs (src/beacon/ids.ts, docs/PRIVACY.md) --------------------------------------------------------

_sha256_impl = []


def _sha256():
    """The interpreter's built-in SHA-256 (_sha2 from 3.12, _sha256 before), not hashlib: importing
    hashlib loads OpenSSL (several ms), which a start-up path that hashes three short strings need
    not pay. hashlib where neither exists. The output is the same function (test_ids.py checks it
    against hmac + hashlib)."""
    if not _sha256_impl:
        fn = None
        for mod in ("_sha2", "_sha256"):
            try:
                fn = getattr(__import__(mod), "sha256")
                break
            except (ImportError, AttributeError):
                continue
        if fn is None:
            import hashlib
            fn = hashlib.sha256
        _sha256_impl.append(fn)
    return _sha256_impl[0]


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def hmac_sha256(key, message):
    """HMAC-SHA-256 (RFC 2104)."""
    sha = _sha256()
    if len(key) > 64:
        key = sha(key).digest()
    key = key.ljust(64, b"\0")
    return sha(key.translate(_OPAD) + sha(key.translate(_IPAD) + message).digest()).digest()


def keyed_id(key, message):
    """HMAC-SHA-256(key, message as UTF-8), truncated to 128 bits, lowercase hex."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    return hmac_sha256(key, message.encode("utf-8", "surrogatepass")).hex()[:ID_HEX_LENGTH]


def read_machine_id():
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(p, "r") as f:
                mid = f.read().strip()
            if _is_hex(mid, 32):
                return mid
        except (OSError, ValueError):
            pass  # not systemd, or a minimal container: fall back to the secret + hostname
    return None


def _hostname():
    try:
        return os.uname().nodename  # what gethostname() and Node's os.hostname() return on POSIX
    except AttributeError:
        import socket
        return socket.gethostname()


def derive_ids(secret, project, script_key):
    """user, host and script IDs; each is per project (see docs/PRIVACY.md)."""
    key = bytes.fromhex(secret)
    mid = read_machine_id()
    if mid:
        host = keyed_id(bytes.fromhex(mid), "usage-beacon:host:" + project)
    else:
        host = keyed_id(key, "host\0%s\0%s" % (project, _hostname()))
    return {
        "user": keyed_id(key, "user\0" + project),
        "host": host,
        "script": keyed_id(key, "script\0%s\0%s" % (project, script_key)),
    }


def script_key_for(script):
    """The real path of the entry script when it is an existing file, else the string, else a marker."""
    if script:
        try:
            real = os.path.realpath(script)
            if os.path.isfile(real):
                return real
        except (OSError, ValueError):
            pass
        return script
    return "[no script]"


# --- small values --------------------------------------------------------------------------------------

def _is_truthy(v):
    return v is not None and v.strip().lower() in _TRUTHY


def detect_ci(env):
    ci = env.get("CI")
    if ci is not None and ci != "" and ci.lower() not in ("false", "0"):
        return True
    return any(env.get(n) for n in _CI_VARIABLES)


_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "i386": "ia32",
         "i486": "ia32", "i586": "ia32", "i686": "ia32", "x86": "ia32", "ppc64le": "ppc64",
         "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64",
         "mips": "mips", "mipsel": "mipsel"}


def platform_os():
    """Named as Node's process.platform names it, so one tool's reports read the same in both."""
    p = sys.platform
    for name in ("linux", "freebsd", "openbsd", "netbsd"):
        if p.startswith(name):
            return name
    if p.startswith("sunos"):
        return "sunos"
    if p.startswith("aix"):
        return "aix"
    return p  # darwin, win32, cygwin …


def platform_arch():
    try:
        m = os.uname().machine
    except AttributeError:
        m = os.environ.get("PROCESSOR_ARCHITECTURE", "unknown")
    ml = m.lower()
    if ml.startswith("armv") or ml == "arm":
        return "arm"
    return _ARCH.get(ml, m or "unknown")


def runtime_label():
    v = sys.version_info
    name = getattr(sys, "implementation", None)
    impl = name.name if name is not None else "cpython"
    return "%s/%d.%d.%d" % ("python" if impl == "cpython" else impl, v[0], v[1], v[2])


def uuid_v7(now_ms=None, rand=None):
    """RFC 9562 UUIDv7: 48 bits of Unix ms, then 74 random bits (random.ts)."""
    ms = int(time.time() * 1000) if now_ms is None else max(0, int(now_ms))
    b = bytearray(rand if rand is not None else os.urandom(16))
    b[0:6] = (ms % (1 << 48)).to_bytes(6, "big")
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    h = bytes(b).hex()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def _iso_now(ms=None):
    ms = int(time.time() * 1000) if ms is None else ms
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def _parse_iso_ms(s):
    """Date.parse for the ISO strings the emitters write; None when unreadable."""
    try:
        import calendar
        m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?Z$", s)
        if not m:
            return None
        secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]) + (0, 0, 0))
        return secs * 1000 + int((m.group(7) or "0").ljust(3, "0"))
    except Exception:
        return None


# --- collector address (src/protocol/collector.ts) -----------------------------------------------------

def _ip_family(s):
    """4 or 6 for an IP literal, else 0 (node:net's isIP)."""
    parts = s.split(".")
    if len(parts) == 4 and all(1 <= len(p) <= 3 and _DIGITS.issuperset(p) and int(p) <= 255
                               and not (len(p) > 1 and p[0] == "0") for p in parts):
        return 4
    if s.count(":") >= 2:
        addr, pct, zone = s.partition("%")
        if pct and not re.match(r"^[0-9A-Za-z:.\-]+$", zone):
            return 0
        try:
            import ipaddress
            ipaddress.IPv6Address(addr)
            return 6
        except (ValueError, ImportError):
            return 0
    return 0


def _split_bracketed(s):
    """`[v6]` or `[v6]:port` as (host, port text or None), else None."""
    if not s.startswith("["):
        return None
    close = s.find("]")
    if close < 2:
        return None
    rest = s[close + 1:]
    if rest == "":
        return (s[1:close], None)
    if rest[0] != ":" or not rest[1:] or not _DIGITS.issuperset(rest[1:]):
        return None
    return (s[1:close], rest[1:])


def parse_collector(spec):
    """`host:port`, `[v6]:port`, `host` (default port) or a bare IPv6 literal -> (host, port, family)."""
    if not spec or not isinstance(spec, str):
        return None
    s = spec.strip()
    port_text = None
    m = _split_bracketed(s)
    if m:
        host, port_text = m
    elif _ip_family(s) == 6:
        host = s
    else:
        i = s.rfind(":")
        if i >= 0:
            host, port_text = s[:i], s[i + 1:]
        else:
            host = s
    if not host or "/" in host or any(c.isspace() or c == "\ufeff" for c in host):
        return None
    port = DEFAULT_PORT
    if port_text is not None:
        if not (1 <= len(port_text) <= 5 and _DIGITS.issuperset(port_text)):
            return None
        port = int(port_text)
        if port < 1 or port > 65535:
            return None
    return (host, port, _ip_family(host))


def format_collector(c):
    return "[%s]:%d" % (c[0], c[1]) if c[2] == 6 else "%s:%d" % (c[0], c[1])


# --- the state file (src/beacon/state-file.ts) ---------------------------------------------------------

def state_dir(env):
    """$BEACON_HOME, else $XDG_CONFIG_HOME/usage-beacon, else ~/.config/usage-beacon."""
    if env.get("BEACON_HOME"):
        return env["BEACON_HOME"]
    if env.get("XDG_CONFIG_HOME"):
        return os.path.join(env["XDG_CONFIG_HOME"], "usage-beacon")
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".config", "usage-beacon")


def read_state(path):
    """('ok', dict) | ('missing', None) | ('invalid', detail). An invalid file is never overwritten."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return ("missing", None)
    except OSError as e:
        import errno
        return ("invalid", errno.errorcode.get(e.errno, str(e)))
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ("invalid", "not valid JSON")
    if not isinstance(parsed, dict):
        return ("invalid", "not a JSON object")
    state = dict(parsed)  # unknown keys are kept, so a newer emitter's fields survive our writes
    state["v"] = 1
    for key, kind in (("secret", str), ("enabled", bool), ("noticed", dict), ("collectors", dict)):
        if key in state and not isinstance(state[key], kind):
            del state[key]
    return ("ok", state)


def _mkdirs(d):
    """mkdir -p where every directory created is 0700 (Node's recursive mkdir with a mode)."""
    if not d or os.path.isdir(d):
        return
    parent = os.path.dirname(d.rstrip("/"))
    if parent and parent != d:
        _mkdirs(parent)
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass


def _write_tmp(path, state):
    _mkdirs(os.path.dirname(path))
    tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
    data = (json.dumps(state, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    # O_EXCL + 0600: the secret is never readable by others, not even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return tmp


def write_state(path, state):
    """Replace atomically (tmp + rename). Raises on failure."""
    tmp = _write_tmp(path, state)
    try:
        os.replace(tmp, path)
    except BaseException:
        _safe_unlink(tmp)
        raise


def create_state_exclusive(path, state):
    """Create only if absent (link() fails on an existing target): two first runs agree on one secret."""
    tmp = _write_tmp(path, state)
    try:
        os.link(tmp, path)
        return "created"
    except FileExistsError:
        return "exists"
    finally:
        _safe_unlink(tmp)


def _safe_unlink(p):
    try:
        os.unlink(p)
    except OSError:
        pass


def _has_secret(state):
    return _is_hex(state.get("secret"), 64)


# --- consent: environment, site policy, state file -----------------------------------------------------

def env_consent(env, opt_out_env=DEFAULT_OPT_OUT_ENV):
    """('off'|'on'|None, reason), from the environment alone, before any file, socket or hash."""
    dnt = env.get("DO_NOT_TRACK")
    if _is_truthy(dnt):
        return ("off", "DO_NOT_TRACK=%s in the environment" % dnt)
    own = env.get(opt_out_env)
    if own is not None and own.strip().lower() in _FALSY:
        return ("off", "%s=%s in the environment" % (opt_out_env, own))
    if _is_truthy(own):
        return ("on", "%s=%s in the environment" % (opt_out_env, own))
    return (None, "default (no opt-out set)")


class SitePolicy(object):
    """/etc/usage-beacon/site.json (or $BEACON_SITE_CONFIG): one file for every user of a machine.
    The rules are the Node emitter's (src/beacon/site-policy.ts, docs/beacon.md "Site policy")."""

    def __init__(self, path, status, tracking="on", collector=None, notice=None, detail=None, mtime_ms=0, size=0):
        self.path = path
        self.status = status  # 'none' | 'ok' | 'invalid'
        self.tracking = tracking  # 'on' | 'off'
        self.collector = collector
        self.notice = notice
        self.detail = detail
        self.mtime_ms = mtime_ms
        self.size = size


MAX_SITE_NOTICE = 1000
_SITE_KEYS = ("tracking", "collector", "notice")
WARNED_MARKER_PREFIX = "site-policy-warned-"


def site_policy_path(env):
    return env.get("BEACON_SITE_CONFIG") or SITE_CONFIG_PATH


def read_site_policy(env):
    """Never raises. A missing file (nearly every machine) costs one stat."""
    path = site_policy_path(env)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return SitePolicy(path, "none")
    except OSError as e:
        return _site_invalid(path, "cannot read it (%s)" % _errno_name(e), None)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return SitePolicy(path, "none")
    except OSError as e:
        return _site_invalid(path, "cannot read it (%s)" % _errno_name(e), st)
    return parse_site_policy(path, raw, st)


def _errno_name(e):
    import errno
    return errno.errorcode.get(e.errno or 0, str(e))


def _mtime_ms(st):
    # Node's Stats.mtimeMs: sec * 1000 + nsec / 1e6 in doubles, the same operations here.
    ns = getattr(st, "st_mtime_ns", None)
    if ns is None:
        return st.st_mtime * 1000
    return (ns // 1000000000) * 1000 + (ns % 1000000000) / 1e6


def _site_invalid(path, detail, st):
    return SitePolicy(path, "invalid", detail=detail, mtime_ms=_mtime_ms(st) if st is not None else 0,
                      size=st.st_size if st is not None else 0)


def parse_site_policy(path, raw, st=None):
    """Used whole or not at all, except that "off" always holds."""
    try:
        o = json.loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
    except ValueError:
        return _site_invalid(path, "not valid JSON", st)
    if not isinstance(o, dict):
        return _site_invalid(path, "not a JSON object", st)
    tracking = o.get("tracking")
    if isinstance(tracking, str):
        tracking = tracking.strip().lower()
    # An administrator who wrote "off" meant it: a mistake elsewhere must not turn tracking back on.
    if tracking == "off" or tracking is False:
        return SitePolicy(path, "ok", tracking="off")
    if "tracking" in o and tracking not in ("on", True):
        return _site_invalid(path, '"tracking" must be "off" or "on"', st)
    unknown = [k for k in o if k not in _SITE_KEYS]
    if unknown:
        return _site_invalid(path, 'unknown key "%s" (allowed: tracking, collector, notice)' % unknown[0], st)
    policy = SitePolicy(path, "ok", tracking="on")
    if "collector" in o:
        c = o["collector"]
        if not isinstance(c, str) or parse_collector(c) is None:
            return _site_invalid(path, '"collector" must be "host:port"', st)
        policy.collector = c.strip()
    if "notice" in o:
        if not isinstance(o["notice"], str):
            return _site_invalid(path, '"notice" must be a string', st)
        policy.notice = _clean_notice(o["notice"]) or None
    return policy


def _clean_notice(s):
    """Terminal escape sequences and control characters removed (newlines kept), cut at 1000."""
    import re
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = re.sub("\x1b(\\[[0-?]*[ -/]*[@-~]|\\][^\x07\x1b]*(\x07|\x1b\\\\)?|[@-_])", "", s)
    s = re.sub("[\x00-\x09\x0b-\x1f\x7f-\x9f]", "", s)
    return _js_slice(s.strip(), MAX_SITE_NOTICE)


def with_site_notice(text, site):
    if site is None or site.status != "ok" or not site.notice:
        return text
    words = "\n".join("  " + line for line in site.notice.split("\n"))
    return "%s\nFrom your site's administrators (%s):\n%s\n\n" % (text.rstrip("\n"), site.path, words)


def _site_marker_key(site):
    """FNV-1a (32 bit) over the UTF-16 units of path NUL mtimeMs NUL size, as Node computes it, so a
    user Node already told is not told again by Python."""
    h = 0x811C9DC5
    for u in _utf16_units("%s\0%s\0%s" % (site.path, _js_number(site.mtime_ms), _js_number(site.size))):
        h = ((h ^ ord(u)) * 0x01000193) & 0xFFFFFFFF
    return "%08x" % h


def warn_invalid_site_once(site, state_dir_path):
    """One stderr line about an ignored policy, at most once per user and version of the file:
    printed only if this process created the marker (O_EXCL) in the state directory."""
    if site.status != "invalid":
        return False
    try:
        _mkdirs(state_dir_path)
        marker = os.path.join(state_dir_path, WARNED_MARKER_PREFIX + _site_marker_key(site))
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            os.write(fd, ("%s: %s\n" % (site.path, site.detail)).encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except Exception:
        return False  # already reported, or nowhere to remember it: stay silent
    _stderr("usage-beacon: ignoring the site policy %s: %s (reported once)\n" % (site.path, site.detail))
    return True


def describe_site(site):
    if site.status == "none":
        return "none (%s does not exist)" % site.path
    if site.status == "invalid":
        return "IGNORED: %s is malformed (%s); defaults apply" % (site.path, site.detail)
    parts = ["tracking off for all users" if site.tracking == "off" else "tracking allowed"]
    if site.collector:
        parts.append("collector %s" % site.collector)
    if site.notice:
        parts.append("a notice for users")
    return "%s: %s" % (site.path, ", ".join(parts))


class Config(object):
    def __init__(self, project=None, version=None, collector=None, opt_out_env=None, components=None,
                 copies=None, script=None, env=None, site=None, opt_out_command=None):
        env = os.environ if env is None else env
        self.opt_out_command_option = opt_out_command  # resolved only when the notice is shown
        self.project = project or env.get("BEACON_PROJECT") or "unknown"
        self.version = version or env.get("BEACON_VERSION") or "unknown"
        if site is not None and site.status == "ok" and site.collector:
            # The site's collector or relay replaces the tool's choice (option and default), not the
            # user's own $BEACON_COLLECTOR.
            self.collector_spec = env.get("BEACON_COLLECTOR") or site.collector
            self.collector_from = None if env.get("BEACON_COLLECTOR") else "site policy (%s)" % site.path
        else:
            self.collector_spec = collector or env.get("BEACON_COLLECTOR") or DEFAULT_COLLECTOR
            self.collector_from = None
        self.collector = parse_collector(self.collector_spec)
        self.opt_out_env = opt_out_env or DEFAULT_OPT_OUT_ENV
        self.copies = _clamp_copies(copies if copies is not None else env.get("BEACON_COPIES"))
        self.components = components
        self.debug = _is_truthy(env.get("BEACON_DEBUG"))
        self.state_dir = state_dir(env)
        self.state_path = os.path.join(self.state_dir, STATE_FILE_NAME)
        self.script = script
        self.site = site


def _clamp_copies(value):
    try:
        n = float(value) if isinstance(value, str) else value
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != int(n):
            return DEFAULT_COPIES
        return min(MAX_COPIES, max(1, int(n)))
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_COPIES


def open_session(cfg, consent, attempt=0):
    """The secret and the notice decision from the state file (session.ts, same steps and reasons)."""
    choice, env_reason = consent
    status, state = read_state(cfg.state_path)
    if status != "ok":
        state = None
    if choice != "on" and state is not None and state.get("enabled") is False:
        return {"enabled": False, "reason": "disabled by `beacon disable` (%s)" % cfg.state_path}
    if choice == "on":
        reason = env_reason
    elif state is not None and state.get("enabled") is True:
        reason = "enabled by `beacon enable` (%s)" % cfg.state_path
    else:
        reason = env_reason

    def noticed():
        n = dict(state.get("noticed") or {}) if state is not None else {}
        n[cfg.project] = _iso_now()
        return n

    if state is not None and _has_secret(state):
        if (state.get("noticed") or {}).get(cfg.project):
            return {"enabled": True, "reason": reason, "secret": state["secret"], "eph": False,
                    "show_notice": False, "state": state}
        new_state = dict(state)
        new_state["noticed"] = noticed()
        try:
            write_state(cfg.state_path, new_state)
        except Exception:
            pass  # could not record the notice: it shows again next time, better than never
        return {"enabled": True, "reason": reason, "secret": state["secret"], "eph": False,
                "show_notice": True, "state": new_state}

    secret = os.urandom(32).hex()
    if status == "invalid":
        # A file we cannot parse or read may be the user's: never overwrite it.
        return {"enabled": True, "reason": reason, "secret": secret, "eph": True, "show_notice": True}
    fresh = dict(state or {})
    fresh.update({"v": 1, "secret": secret, "noticed": noticed()})
    try:
        if status == "missing":
            if create_state_exclusive(cfg.state_path, fresh) == "exists":
                if attempt < 2:
                    return open_session(cfg, consent, attempt + 1)  # another program won: use its secret
                return {"enabled": True, "reason": reason, "secret": secret, "eph": True, "show_notice": True}
        else:
            write_state(cfg.state_path, fresh)
        return {"enabled": True, "reason": reason, "secret": secret, "eph": False, "show_notice": True,
                "state": fresh}
    except Exception:
        # Read-only or missing home: still count the run, flagged eph (its IDs are not stable).
        return {"enabled": True, "reason": reason, "secret": secret, "eph": True, "show_notice": True}


def _cached_address(state, host, now_ms):
    try:
        entry = ((state or {}).get("collectors") or {}).get(host.lower())
        if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
            return None
        addr = entry["address"]
        fam = _ip_family(addr)
        if fam != (6 if entry.get("family") == 6 else 4):
            return None
        at = _parse_iso_ms(entry.get("at") or "")
        if at is None or not (0 <= now_ms - at < _CACHE_MAX_AGE_MS):
            return None
        return (addr, fam)
    except Exception:
        return None


def _remember_address(state_path, host, resolved):
    """Record a fresh resolution in the state file (collector-cache.ts). Runs on the DNS thread."""
    try:
        status, state = read_state(state_path)
        if status != "ok":
            return
        key = host.lower()
        now = int(time.time() * 1000)
        old = (state.get("collectors") or {}).get(key)
        if isinstance(old, dict) and old.get("address") == resolved[0]:
            at = _parse_iso_ms(old.get("at") or "")
            if at is not None and now - at < _CACHE_REFRESH_MS:
                return
        collectors = dict(state.get("collectors") or {})
        collectors[key] = {"address": resolved[0], "family": resolved[1], "at": _iso_now(now)}
        state["collectors"] = collectors
        write_state(state_path, state)
    except Exception:
        pass


def notice_text(project, opt_out_env, collector, opt_out_command=None):
    """The first-run notice (notice.ts): every command in it works for the person reading it, and
    `false` is the documented opt-out value."""
    if not opt_out_command:
        opt_out_command = own_command("disable")
    text = ("\n%s collects anonymous usage statistics (usage-beacon): a random run ID, the "
            "%s version, runtime, OS, CPU architecture, whether this is CI, run duration, exit code "
            "and keyed-hash IDs of your user, host and script that cannot be reversed. No names, paths "
            "or IP addresses are sent. Datagrams go to %s.\n"
            "  See exactly what is sent:  %s --project %s   "
            "(or BEACON_DEBUG=1 to print instead of send)\n"
            "  Opt out:  export %s=false   or   DO_NOT_TRACK=1   or   %s\n"
            % (project, project, collector, own_command("preview"), _shell_word(project), opt_out_env,
               opt_out_command))
    return text + "This notice is shown once.\n\n"


def _module_name():
    """The import name of this module, so a vendored copy (mytool._vendor.usage_beacon) prints
    commands that run that copy."""
    spec = globals().get("__spec__")
    name = getattr(spec, "name", None) or __name__
    return "usage_beacon" if name == "__main__" else name


def _shell_word(s):
    if s and all(c.isalnum() or c in "@%+=:,./-_" for c in s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


def _interpreter_command():
    """How the reader can run this interpreter: its short name when that name on $PATH is this very
    interpreter (an activated venv, /usr/bin/python3), else its full path. `python` alone is not
    safe to print: many systems have only python3, and another interpreter may lack this module."""
    exe = sys.executable
    if not exe:
        return "python3"
    try:
        import shutil
        exe_abs = os.path.abspath(exe)
        real = os.path.realpath(exe_abs)
        for cand in (os.path.basename(exe_abs), "python3", "python"):
            found = shutil.which(cand)
            if not found:
                continue
            found = os.path.abspath(found)
            if found == exe_abs or (os.path.dirname(found) == os.path.dirname(exe_abs)
                                    and os.path.realpath(found) == real):
                return cand
    except Exception:
        pass
    return _shell_word(exe)


def own_command(sub):
    """`python3 -m usage_beacon <sub>` as the person reading it can run it."""
    return "%s -m %s %s" % (_interpreter_command(), _module_name(), sub)


def opt_out_command_for(option, env):
    """The tool's own command → $BEACON_OPT_OUT_COMMAND → this module's `disable` (config.ts)."""
    return option or env.get("BEACON_OPT_OUT_COMMAND") or own_command("disable")


def _stderr(text):
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:
        pass  # a closed stderr must not turn a courtesy message into a crash


# --- transport ---------------------------------------------------------------------------------------------

class _Transport(object):
    """A non-blocking UDP socket; a hostname is resolved on a daemon thread. Never raises."""

    def __init__(self, cfg, state, eph):
        self.copies = cfg.copies
        self.debug = cfg.debug
        self.where = format_collector(cfg.collector)
        self.target = None
        self.sock = None
        self.queue = []
        self.closing = False  # close once what is queued went out (the run ended)
        self.closed = False
        self.lock = threading.Lock()
        self.resolved = threading.Event()
        host, port, family = cfg.collector
        self.port = port
        if self.debug:
            return
        if family:
            self._set_target((host, family))
            self.resolved.set()
            return
        if host.lower() == "localhost":
            self._set_target(("127.0.0.1", 4))
            self.resolved.set()
            return
        import socket  # noqa: F401  (imported here, not first on the DNS thread during shutdown)
        cached = None if eph else _cached_address(state, host, int(time.time() * 1000))
        if cached:
            self._set_target(cached)
        t = threading.Thread(target=self._resolve, args=(host, None if eph else cfg.state_path),
                             name="usage-beacon-dns")
        t.daemon = True  # a DNS server that never answers must not hold the host open
        t.start()

    def _set_target(self, target):
        import socket
        fam = socket.AF_INET6 if target[1] == 6 else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.set_inheritable(False)
        except Exception:
            pass
        self.sock = sock
        self.target = target

    def _resolve(self, host, state_path):
        try:
            import socket
            infos = socket.getaddrinfo(host, self.port, 0, socket.SOCK_DGRAM)
            best = None
            for fam, _, _, _, sa in infos:
                if fam == socket.AF_INET:
                    best = (sa[0], 4)
                    break
                if fam == socket.AF_INET6 and best is None:
                    best = (sa[0], 6)
            if best is None:
                return
            if state_path:
                _remember_address(state_path, host, best)
            with self.lock:
                if self.target is None and not self.closed:
                    self._set_target(best)
                    queued, self.queue = self.queue, []
                    for d in queued:
                        self._write(d)
                    if self.closing:
                        self._close_now()
        except Exception:
            pass  # does not resolve: nothing is sent
        finally:
            self.resolved.set()

    def _write(self, datagram):
        for _ in range(self.copies):
            try:
                self.sock.sendto(datagram, (self.target[0], self.port))
            except OSError:
                pass  # full buffer, unreachable network: best effort, never the host's problem

    def send(self, datagram, wait_s=0.0):
        try:
            if self.debug:
                _stderr("usage-beacon debug: would send %d\u00d7 %d bytes to %s: %s\n" % (
                    self.copies, len(datagram), self.where, datagram.decode("utf-8")))
                return
            if self.target is None and wait_s > 0:
                self.resolved.wait(wait_s)
            if not self.lock.acquire(timeout=max(wait_s, 0.001)):
                return
            try:
                if self.closed:
                    return
                if self.target is not None:
                    self._write(datagram)
                elif len(self.queue) < 2:
                    self.queue.append(datagram)
            finally:
                self.lock.release()
        except Exception:
            pass

    def close_when_sent(self):
        """The run ended: close the socket now (a UDP sendto that returned has handed its datagram
        to the kernel, so nothing is lost), or, with datagrams still waiting for DNS, right after
        the resolver sends them. An open socket left to the garbage collector would make Python
        print a ResourceWarning in the host (python -X dev, pytest)."""
        try:
            if not self.lock.acquire(timeout=0.01):
                return
            try:
                if self.queue and self.target is None:
                    self.closing = True
                else:
                    self._close_now()
            finally:
                self.lock.release()
        except Exception:
            pass

    def _close_now(self):
        self.closed = True
        self.queue = []
        try:
            if self.sock is not None:
                self.sock.close()
        except Exception:
            pass


# --- runs, and the exit status Python reports --------------------------------------------------------

_lock = threading.RLock()
_open_runs = []  # runs started and not ended yet, oldest first
_owner_pid = os.getpid()  # only this process sends: a forked child inherits us but sends nothing
_hooks_installed = False
_signals_installed = False
_uncaught = []  # [exception type] once the interpreter printed an uncaught exception
_HOOK_MARK = "_usage_beacon_hook"


def _after_fork_in_child():
    global _open_runs
    _open_runs = []  # the parent's runs are the parent's: the child ends none of them
    _restore_default_signals()


def _restore_default_signals():
    """A forked child (a multiprocessing worker) must die of SIGTERM/SIGHUP exactly as it would
    without us. Our handlers are installed only where the host left the default, and a Python-level
    handler runs only between bytecodes: a worker blocked in C when its pool terminates it could
    then outlive the SIGTERM and hang the parent's Pool. So in the child, the default comes back
    wherever our handler (or a chain of usage-beacon copies' handlers) is still in place."""
    try:
        signal = _signal_module()
        if threading.current_thread() is not threading.main_thread():
            return
        for name in _SIGNAL_NAMES:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            current = signal.getsignal(signum)
            if getattr(current, _HOOK_MARK, False):
                signal.signal(signum, signal.SIG_DFL)
    except Exception:
        pass  # never break the child over telemetry


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _interpreter_is_caller():
    """True when the caller of our caller is no Python frame: the interpreter's own exit handling."""
    try:
        sys._getframe(2)
        return False
    except ValueError:
        return True
    except Exception:
        return False


def _called_by_beacon_hook():
    """True when our caller's caller is another usage-beacon copy's excepthook (itself called by
    the interpreter): a vendored copy that wrapped ours after us."""
    try:
        f = sys._getframe(2)
        if not (f.f_code.co_name == "excepthook" and f.f_globals.get("_HOOK_MARK") == _HOOK_MARK):
            return False
    except Exception:
        return False
    try:
        sys._getframe(3)
        return False
    except ValueError:
        return True
    except Exception:
        return False


class _ExitCodeProbe(object):
    """Stands in for SystemExit.code: Python reads it, from C with no Python frame left, exactly
    when a SystemExit ends the program. That read is the only place the status of a bare
    `raise SystemExit(n)` is visible (no hook is called for it), so it is noted here. Every other
    read, write or delete behaves exactly as the original member."""

    def __init__(self, orig):
        self.orig = orig
        # (pid, code): shared by every copy of usage_beacon in the process (vendored ones too),
        # since there is one SystemExit type and so one probe.
        self.note = None

    def __get__(self, obj, objtype=None):
        value = self.orig.__get__(obj, objtype)
        if obj is not None:
            try:
                if _interpreter_is_caller():
                    self.note = (os.getpid(), value)
            except Exception:
                pass
        return value

    def __set__(self, obj, value):
        self.orig.__set__(obj, value)

    def __delete__(self, obj):
        self.orig.__delete__(obj)


def _install_exit_code_probe():
    try:
        if getattr(sys, "implementation", None) is None or sys.implementation.name != "cpython":
            return False
        import gc
        current = SystemExit.__dict__.get("code")
        if current is None or getattr(current, "_usage_beacon_probe", False):
            return current is not None
        real = [r for r in gc.get_referents(SystemExit.__dict__) if isinstance(r, dict)]
        if len(real) != 1 or real[0].get("code") is not current:
            return False
        real[0]["code"] = _ExitCodeProbe(current)
        clear = getattr(sys, "_clear_internal_caches", None) or getattr(sys, "_clear_type_cache", None)
        if clear is not None:
            clear()  # the type cache may hold the old descriptor
        return True
    except Exception:
        return False


_ExitCodeProbe._usage_beacon_probe = True
_probe_installed = False
_fallback_note = []


def _probe_note():
    """The status of a SystemExit that ended this process, as (True, code), else (False, None)."""
    probe = SystemExit.__dict__.get("code")
    note = getattr(probe, "note", None) if getattr(probe, "_usage_beacon_probe", False) else None
    if isinstance(note, tuple) and len(note) == 2 and note[0] == os.getpid():
        return True, note[1]
    if not _probe_installed and _fallback_note and _fallback_note[0][0] == os.getpid():
        return True, _fallback_note[0][1]
    return False, None


def _wrap_sys_exit():
    """On CPython <= 3.11 sys.exit(n) raises an un-normalized SystemExit whose code Python reads
    without the probe; passing it through an except clause here normalizes it. Chains to whatever
    sys.exit was (another wrapper stays in the chain)."""
    prev = sys.exit
    if getattr(prev, _HOOK_MARK, False):
        return

    def exit(*args):  # noqa: A001 (same name, so tracebacks read naturally)
        try:
            return prev(*args)
        except SystemExit as e:
            if not _probe_installed:
                # No probe (not CPython): the best left is the code sys.exit was called with.
                _fallback_note[:] = [(os.getpid(), e.code)]
            raise

    exit.__doc__ = getattr(prev, "__doc__", None)
    setattr(exit, _HOOK_MARK, True)
    sys.exit = exit


def _wrap_excepthook():
    prev = sys.excepthook

    def excepthook(exc_type, value, tb):
        try:
            # Only the interpreter's own report of an uncaught exception counts, not a host that
            # calls sys.excepthook itself to log an error and carry on.
            if (_interpreter_is_caller() or _called_by_beacon_hook()) and os.getpid() == _owner_pid:
                _uncaught[:] = [exc_type]
        except Exception:
            pass
        return prev(exc_type, value, tb)

    setattr(excepthook, _HOOK_MARK, True)
    sys.excepthook = excepthook


def _status_from_code(code):
    """The status Python exits with for SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 255
    return 1  # Python prints it and exits 1


def _exit_status():
    """The status this process is about to exit with, as seen from atexit."""
    noted, code = _probe_note()
    if noted:
        return _status_from_code(code)
    exc_type = _uncaught[0] if _uncaught else None
    if exc_type is None and not getattr(sys.excepthook, _HOOK_MARK, False):
        # The host replaced sys.excepthook after start(): fall back to what Python records.
        exc_type = getattr(sys, "last_type", None)
    if exc_type is not None:
        try:
            if issubclass(exc_type, KeyboardInterrupt):
                return 130  # Python 3.8+ then dies of SIGINT itself: 128 + 2
        except TypeError:
            pass
        return 1
    return 0


def _at_exit():
    try:
        if os.getpid() != _owner_pid:
            return
        code = _exit_status()
        for run in list(_open_runs):
            run._end(code, EXIT_DNS_WAIT_S)
    except Exception:
        pass


_SIGNAL_NAMES = ("SIGTERM", "SIGHUP")


def _signal_module():
    """The signal module if the host loaded it, else its C core _signal: same functions, without
    the enum set-up (~0.8 ms) that importing `signal` costs. Handlers compare as ints either way."""
    mod = sys.modules.get("signal")
    if mod is None:
        import _signal as mod
    return mod


def _install_signal_hooks():
    """SIGTERM/SIGHUP: only where the host left the default (die of it). Then the end is sent with
    128+n and the signal re-raised with the default restored: the host dies of it as before.
    A host handler, present or installed later, decides; atexit then reports what it decides."""
    signal = _signal_module()
    if threading.current_thread() is not threading.main_thread():
        return  # Python allows signal handlers only from the main thread
    for name in _SIGNAL_NAMES:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            prev = signal.getsignal(signum)
        except (ValueError, OSError):
            continue
        chained = prev if getattr(prev, _HOOK_MARK, False) else None  # another usage-beacon copy
        if chained is None and not (isinstance(prev, int) and prev == signal.SIG_DFL):
            continue
        handler = _make_signal_handler(signum, chained)
        try:
            signal.signal(signum, handler)
        except (ValueError, OSError):
            pass


def _make_signal_handler(signum, chained):
    def handler(sig, frame):
        signal = _signal_module()
        try:
            if os.getpid() == _owner_pid:
                for run in list(_open_runs):
                    run._end(128 + sig, EXIT_DNS_WAIT_S)
        except Exception:
            pass
        if chained is not None:
            return chained(sig, frame)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)

    setattr(handler, _HOOK_MARK, True)
    return handler


def _install_hooks():
    global _hooks_installed, _probe_installed, _signals_installed
    if not _hooks_installed:
        _hooks_installed = True
        _probe_installed = _install_exit_code_probe()
        _wrap_sys_exit()
        _wrap_excepthook()
        atexit.register(_at_exit)
    # Only the main thread may install signal handlers: a first start() from a worker thread
    # leaves them for the next start() that runs on the main thread.
    if not _signals_installed and threading.current_thread() is threading.main_thread():
        _signals_installed = True
        try:
            _install_signal_hooks()
        except Exception:
            pass


class Beacon(object):
    """What start() returns: `enabled`, `reason` (which setting decided), `run` (UUID), `end()`."""

    def __init__(self, enabled, reason, run=None):
        self.enabled = enabled
        self.reason = reason
        self.run = run
        self._ended = not enabled
        self._encoder = None
        self._transport = None
        self._t0 = time.monotonic()

    def end(self, exit_code=None):
        """End this run now; the automatic end at exit is then skipped. Only the first end counts.
        Never raises; returns True when an end was sent.

        exit_code None (the default) means the process's own status as far as it is known: 0
        while the program runs, and, when called during shutdown (a tool's cleanup registered
        with atexit), the status the interpreter is exiting with (sys.exit(n), an uncaught
        exception)."""
        try:
            if exit_code is None:
                exit_code = _exit_status()
            return self._end(exit_code, 0.0)
        except Exception:
            return False

    def _end(self, exit_code, wait_s):
        with _lock:
            if self._ended:
                return False
            self._ended = True
            try:
                _open_runs.remove(self)
            except ValueError:
                pass
        if os.getpid() != _owner_pid or self._encoder is None:
            return False
        code = _status_from_code(exit_code) if not isinstance(exit_code, int) else exit_code & 255
        dur = (time.monotonic() - self._t0) * 1000.0
        self._transport.send(self._encoder.end(int(time.time() * 1000), code, dur), wait_s)
        self._transport.close_when_sent()
        return True

    def __repr__(self):
        return "<usage_beacon.Beacon enabled=%r run=%r reason=%r>" % (self.enabled, self.run, self.reason)


def _in_multiprocessing_child():
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return False
    try:
        return mp.parent_process() is not None
    except Exception:
        return False


def _decide(project, version, collector, opt_out_env, components, copies, script, env, opt_out_command=None):
    """Consent in privacy order: the user's environment, then the site, then the state file."""
    consent = env_consent(env, opt_out_env or DEFAULT_OPT_OUT_ENV)
    if consent[0] == "off":
        return None, consent[1]
    site = read_site_policy(env)
    if site.status == "ok" and site.tracking == "off":
        return None, "turned off for all users by the site policy (%s)" % site.path
    cfg = Config(project, version, collector, opt_out_env, components, copies, script, env,
                 site if site.status == "ok" else None, opt_out_command)
    cfg.site_status = site
    if cfg.collector is None:
        return None, 'unusable collector "%s"' % cfg.collector_spec
    return cfg, consent


def start(project=None, version=None, collector=None, components=None, opt_out_env=None,
          copies=None, script=None, opt_out_command=None):
    """Send the start of this run and arrange its end at exit. Never raises, never blocks.

    project, version: the tool's name and version (else $BEACON_PROJECT / $BEACON_VERSION, else
    "unknown"). collector: "host:port" (else $BEACON_COLLECTOR, else 127.0.0.1:50077; a site
    policy's collector beats both). components: a few configuration facts, e.g. {"executors": 2}.
    opt_out_env: the tool's opt-out variable (default PARSL_TRACKING). copies: how many times each
    datagram is sent (1-5, default 2). script: the file whose keyed hash is the script ID (default
    sys.argv[0]). opt_out_command: the command the first-run notice tells users to run to opt out
    for good, e.g. "mytool telemetry off" (else $BEACON_OPT_OUT_COMMAND, else
    `python3 -m usage_beacon disable` as this interpreter and module are named).
    """
    try:
        env = os.environ
        if os.getpid() != _owner_pid or _in_multiprocessing_child():
            return Beacon(False, "a forked or multiprocessing child: the parent's run counts")
        cfg, consent = _decide(project, version, collector, opt_out_env, components, copies, script, env,
                               opt_out_command)
        if cfg is None:
            return Beacon(False, consent)
        site = cfg.site_status
        session = open_session(cfg, consent)
        if not session["enabled"]:
            return Beacon(False, session["reason"])
        if site.status == "invalid":
            warn_invalid_site_once(site, cfg.state_dir)
        if script is None:
            argv = getattr(sys, "argv", None) or [""]
            script = argv[0]
        started_ms = int(time.time() * 1000)
        beacon = Beacon(True, session["reason"], uuid_v7(started_ms))
        identity = {"run": beacon.run, "project": cfg.project, "version": cfg.version,
                    "runtime": runtime_label(), "os": platform_os(), "arch": platform_arch(),
                    "ci": detect_ci(env), "components": cfg.components}
        identity.update(derive_ids(session["secret"], cfg.project, script_key_for(script)))
        if session["eph"]:
            identity["eph"] = True
        beacon._encoder = RunEncoder(identity)
        beacon._transport = _Transport(cfg, session.get("state"), session["eph"])
        with _lock:
            _install_hooks()
            _open_runs.append(beacon)
        beacon._transport.send(beacon._encoder.start(started_ms))
        if session["show_notice"]:
            _stderr(with_site_notice(notice_text(cfg.project, cfg.opt_out_env, beacon._transport.where,
                                                 opt_out_command_for(cfg.opt_out_command_option, env)),
                                     cfg.site))
        return beacon
    except Exception as e:
        # Telemetry must never break the program that embeds it.
        if _is_truthy(os.environ.get("BEACON_DEBUG")):
            _stderr("usage-beacon debug: disabled after an internal error: %r\n" % (e,))
        return Beacon(False, "internal error")


def end(exit_code=None):
    """End the most recent run started by start() in this process that has not ended yet
    (see Beacon.end: None means the process's own status as far as it is known)."""
    try:
        with _lock:
            run = _open_runs[-1] if _open_runs else None
        return run.end(exit_code) if run is not None else False
    except Exception:
        return False


# --- preview ---------------------------------------------------------------------------------------------

def preview(project=None, collector=None, opt_out_env=None, env=None, out=None):
    """What `python -m usage_beacon preview` prints: the decision, and the exact bytes. Sends and
    writes nothing."""
    env = os.environ if env is None else env
    lines = []
    put = out or lines.append
    project = project or env.get("BEACON_PROJECT") or "beacon"
    opt = opt_out_env or DEFAULT_OPT_OUT_ENV
    consent = env_consent(env, opt)
    site = read_site_policy(env)  # preview reads it even when opted out: it shows what applies
    cfg = Config(project, None, collector, opt, None, None, None, env, site if site.status == "ok" else None)
    status, state = read_state(cfg.state_path)
    detail = state if status == "invalid" else None
    state = state if status == "ok" else None
    if consent[0] == "off":
        tracking = "off \u2014 " + consent[1]
    elif site.status == "ok" and site.tracking == "off":
        tracking = "off \u2014 turned off for all users by the site policy (%s)" % site.path
    elif consent[0] == "on":
        tracking = "on \u2014 " + consent[1]
    elif state is not None and state.get("enabled") is False:
        tracking = "off \u2014 disabled by `beacon disable` (state file)"
    elif state is not None and state.get("enabled") is True:
        tracking = "on \u2014 enabled by `beacon enable` (state file)"
    else:
        tracking = "on \u2014 " + consent[1]
    on = tracking.startswith("on")
    put("tracking:    %s" % tracking)
    put("opt out:     %s=false, DO_NOT_TRACK=1, or `%s`" % (opt, opt_out_command_for(None, env)))
    put("site policy: %s" % describe_site(site))
    if site.status == "ok" and site.notice:
        put("site notice: %s" % site.notice.replace("\n", " / "))
    put("collector:   %s%s%s" % (cfg.collector_spec,
                                 " (from the site policy %s)" % site.path if cfg.collector_from else "",
                                 "" if cfg.collector else " (unusable: nothing would be sent)"))
    put("state file:  %s (%s)" % (cfg.state_path, "exists" if status == "ok" else
                                  "not created yet" if status == "missing" else "unusable: %s" % detail))
    put("debug:       %s" % ("BEACON_DEBUG is set: datagrams are printed to stderr, not sent"
                             if cfg.debug else "off"))
    put("copies:      each datagram is sent %d\u00d7 (identical bytes)" % cfg.copies)
    known = state is not None and _has_secret(state)
    secret = state["secret"] if known else os.urandom(32).hex()
    now = int(time.time() * 1000)
    identity = {"run": uuid_v7(now), "project": cfg.project, "version": cfg.version,
                "runtime": runtime_label(), "os": platform_os(), "arch": platform_arch(),
                "ci": detect_ci(env)}
    identity.update(derive_ids(secret, cfg.project, "[preview]"))
    if not known and status == "invalid":
        identity["eph"] = True
    enc = RunEncoder(identity)
    s, e = enc.start(now), enc.end(now + 1234, 0, 1234)
    put("")
    put("A run would send exactly these bytes (the script ID differs per script):" if on
        else "Nothing is sent. If tracking were on, a run would send:")
    if not known:
        put("(no secret yet: the IDs below are from a throwaway secret; the first tracked run creates the real one)")
    put("start (%d bytes):" % len(s))
    put(s.decode("utf-8"))
    put("end (%d bytes):" % len(e))
    put(e.decode("utf-8"))
    return lines


class StateFileError(Exception):
    """BEACON_ERR_STATE_FILE: the state file could not be read or written (enable/disable)."""
    code = "BEACON_ERR_STATE_FILE"


def consent_command(enabled, env=None, out=None, opt_out_env=None):
    """`python -m usage_beacon enable|disable` (src/beacon/commands/consent.ts): persist the choice
    for this user in the state file, in the Node CLI's format. The environment still wins, and a
    site policy that turns tracking off keeps it off. Raises StateFileError on a state file that is
    not ours to overwrite (unparseable, unreadable) or cannot be written: it is left untouched."""
    env = os.environ if env is None else env
    put = out or (lambda line: sys.stdout.write(line + "\n"))
    path = os.path.join(state_dir(env), STATE_FILE_NAME)
    for _ in range(3):
        status, state = read_state(path)
        if status == "invalid":
            raise StateFileError("cannot use the state file %s (%s); fix or delete it" % (path, state))
        try:
            if status == "ok":
                new_state = dict(state)
                new_state["enabled"] = enabled
                write_state(path, new_state)
                break
            # First creation: link(), so a first run creating its secret at the same moment is not
            # overwritten; whoever loses re-reads the winner's file and adds the choice to it.
            if create_state_exclusive(path, {"v": 1, "enabled": enabled}) == "created":
                break
        except OSError as e:
            raise StateFileError("cannot write the state file %s (%s)" % (path, _errno_name(e)))
    else:
        raise StateFileError("cannot write the state file %s (it keeps changing)" % path)
    put("usage tracking %s for this user (%s)" % ("enabled" if enabled else "disabled", path))
    consent = env_consent(env, opt_out_env or DEFAULT_OPT_OUT_ENV)
    if consent[0] is not None and (consent[0] == "on") != enabled:
        put("note: %s overrides this choice while it is set" % consent[1])
    site = read_site_policy(env)
    if enabled and site.status == "ok" and site.tracking == "off":
        put("note: the site policy %s turns tracking off for all users of this machine; it stays off" % site.path)
    return 0


def _main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m usage_beacon",
                                description="usage-beacon for Python (see docs/beacon.md)")
    sub = p.add_subparsers(dest="command")
    pv = sub.add_parser("preview", help="print whether tracking is on and the exact bytes a run would send")
    pv.add_argument("--project")
    pv.add_argument("--collector")
    pv.add_argument("--opt-out-env")
    for name, what in (("disable", "turn usage tracking off for this user, for every tool (same state file as `beacon disable`)"),
                       ("enable", "undo disable (same state file as `beacon enable`)")):
        c = sub.add_parser(name, help=what)
        c.add_argument("--opt-out-env", help="the tool's opt-out variable to check (default %s)" % DEFAULT_OPT_OUT_ENV)
    args = p.parse_args(argv)
    if args.command in ("disable", "enable"):
        try:
            return consent_command(args.command == "enable", opt_out_env=args.opt_out_env)
        except StateFileError as e:
            sys.stderr.write("usage_beacon: %s [%s]\n" % (e, e.code))
            return 1
    if args.command != "preview":
        p.print_help(sys.stderr)
        return 2
    if args.collector is not None and parse_collector(args.collector) is None:
        sys.stderr.write('usage_beacon: --collector must be host:port, got "%s"\n' % args.collector)
        return 2
    for line in preview(args.project, args.collector, args.opt_out_env):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
