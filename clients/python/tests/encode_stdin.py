"""Test helper: encode identities from stdin (JSON list of {identity, t, exit, dur_ms}) with the
Python emitter's encoder; print a JSON list of [start, end] as hex. Used by the Node-side
byte-for-byte comparison (test/clients/python-interop.test.ts)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
import usage_beacon  # noqa: E402

out = []
for case in json.loads(sys.stdin.read()):
    enc = usage_beacon.RunEncoder(case["identity"])
    out.append([enc.start(case["t"]).hex(), enc.end(case["t"] + 5, case["exit"], case["dur_ms"]).hex()])
sys.stdout.write(json.dumps(out))
