"""Every datagram the Python emitter sent during this test session validates against the project's
JSON Schema (src/protocol/beacon-v1.schema.json) with ajv, the receiver's validator. Named to run
last; when run alone it first produces datagrams of its own, so it never passes on nothing."""
import json
import os
import subprocess

from conftest import ALL_DATAGRAMS, ROOT, Listener, clean_env, run_py

VALIDATE = r"""
const { Ajv } = require('ajv');
const fs = require('fs');
const schema = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
const validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
const bad = [];
for (const line of fs.readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
  const buf = Buffer.from(line, 'hex');
  let msg;
  try { msg = JSON.parse(buf.toString('utf8')); } catch (e) { bad.push(['not json', line]); continue; }
  if (buf.length > 1200 || !validate(msg)) bad.push([validate.errors, buf.toString('utf8')]);
}
process.stdout.write(JSON.stringify(bad));
"""


def test_every_datagram_of_the_session_validates(tmp_path):
    l = Listener()
    try:
        env = clean_env(BEACON_HOME=str(tmp_path / "h"), BEACON_COLLECTOR=l.collector)
        run_py("import usage_beacon, sys\nusage_beacon.start(project='p q', version='é', "
               "components={'a': 1.5, 'b': 'x' * 99, '3': True})\nsys.exit(300)", env)
        l.wait_for(4)
    finally:
        l.close()
    datagrams = list(dict.fromkeys(ALL_DATAGRAMS))
    assert len(datagrams) >= 2
    p = subprocess.run(["node", "-e", VALIDATE, os.path.join(ROOT, "src", "protocol", "beacon-v1.schema.json")],
                       input="\n".join(d.hex() for d in datagrams), capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [], p.stdout
