"""ID derivation and encoding units (the Node side's byte-for-byte comparison is in
test/clients/python-interop.test.ts)."""
import hashlib
import hmac
import os

import usage_beacon as ub


def test_hmac_matches_the_standard_library_and_rfc4231():
    for key, msg in [(b"k", b""), (os.urandom(32), b"user\0parsl"), (os.urandom(100), os.urandom(300)), (b"", b"x")]:
        assert ub.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()
    # RFC 4231 test case 2
    assert ub.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_ids_are_per_project_and_32_hex():
    secret = "11" * 32
    a = ub.derive_ids(secret, "parsl", "/x/y.py")
    b = ub.derive_ids(secret, "other", "/x/y.py")
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in a.values())
    assert a["user"] != b["user"] and a["script"] != b["script"]
    assert a["user"] == ub.keyed_id(bytes.fromhex(secret), "user\0parsl")


def test_js_numbers():
    cases = {0: "0", -0.0: "0", 2.0: "2", 1.5: "1.5", 1e21: "1e+21", 1e20: "100000000000000000000",
             1.5e-7: "1.5e-7", 0.000001: "0.000001", 123456789.125: "123456789.125", -2.5e-10: "-2.5e-10",
             2 ** 60: "1152921504606847000", 1.7976931348623157e308: "1.7976931348623157e+308", 5e-324: "5e-324"}
    for v, want in cases.items():
        assert ub._js_number(v) == want, (v, ub._js_number(v), want)


def test_uuid_v7_layout():
    u = ub.uuid_v7(1717171717171, bytes(16))
    assert u == "018fcf69-0433-7000-8000-000000000000"
