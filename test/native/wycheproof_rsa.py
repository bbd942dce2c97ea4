#!/usr/bin/env python3
"""Turns Wycheproof's RSA decryption test files (PKCS#1 v1.5 and OAEP: rsaes_*_decrypt_schema) into the
lines build/native-wycheproof-rsa reads, one per test:

  tag n e p q dp dq qi ct raw

tag is FILE-STEM:tcId (for the report); the rest is hex: n and ct at bits/8 bytes, p, q, dp, dq, qi at
bits/16 bytes (left-padded), e as it comes. raw = ct^d mod n, computed here by Python's own integers
from the vector's private exponent d (the core never sees d: it uses the CRT values), or "-" if ct >= n:
the core must refuse those. Only the raw private operation is checked: the padding (PKCS#1 v1.5, OAEP)
is removed in JavaScript on the device, so `result` (valid/invalid) does not apply to the core.

Tests whose ciphertext is not exactly bits/8 bytes are left out and counted on stderr as skipped: the
device refuses them before the core (C_Decrypt's length check).

Each key is checked before it is written (p*q = n, the CRT values agree with d, ct = raw^e mod n), and
for valid PKCS#1 v1.5 vectors raw must be 00 02 PS 00 msg: a converter or vector fault stops here
instead of showing up as a core failure.

  wycheproof_rsa.py FILE.json... > vectors.txt
"""
import json
import os
import sys


def fail(msg):
    sys.exit("wycheproof_rsa.py: " + msg)


def hexw(v, size):
    return v.to_bytes(size, "big").hex()


def key_of(group):
    k = group.get("privateKey")
    if isinstance(k, dict):  # hex, signed DER style (a leading 00 where the top bit is set)
        f = {name: int(k[field], 16) for name, field in (("n", "modulus"), ("e", "publicExponent"),
             ("d", "privateExponent"), ("p", "prime1"), ("q", "prime2"), ("dp", "exponent1"),
             ("dq", "exponent2"), ("qi", "coefficient"))}
    else:  # JWK only: base64url, unsigned
        import base64
        jwk = group["privateKeyJwk"]
        if isinstance(jwk, str):
            jwk = json.loads(jwk)
        f = {name: int.from_bytes(base64.urlsafe_b64decode(jwk[name] + "=" * (-len(jwk[name]) % 4)), "big")
             for name in ("n", "e", "d", "p", "q", "dp", "dq", "qi")}
    return f


total = skipped = 0
for path in sys.argv[1:]:
    stem = os.path.basename(path).removesuffix(".json").removesuffix("_test")
    with open(path) as fh:
        doc = json.load(fh)
    for group in doc["testGroups"]:
        k = key_of(group)
        n, e, d, p, q = k["n"], k["e"], k["d"], k["p"], k["q"]
        bits = n.bit_length()
        if bits % 16:
            fail(f"{stem}: a {bits}-bit modulus")
        B, H = bits // 8, bits // 16
        if p * q != n or k["dp"] != d % (p - 1) or k["dq"] != d % (q - 1) or k["qi"] * q % p != 1:
            fail(f"{stem}: inconsistent key in the group of tcId {group['tests'][0]['tcId']}")
        if p.bit_length() > 8 * H or q.bit_length() > 8 * H:
            fail(f"{stem}: a prime wider than bits/2 in the group of tcId {group['tests'][0]['tcId']}")
        key = " ".join([hexw(n, B), format(e, "x").zfill(2 * ((e.bit_length() + 7) // 8))] +
                       [hexw(k[x], H) for x in ("p", "q", "dp", "dq", "qi")])
        for t in group["tests"]:
            ct = bytes.fromhex(t["ct"])
            if len(ct) != B:
                skipped += 1
                continue
            c = int.from_bytes(ct, "big")
            if c >= n:
                raw = "-"
            else:
                m = pow(c, d, n)
                if pow(m, e, n) != c:
                    fail(f"{stem}: tcId {t['tcId']}: ct^d^e != ct")
                raw = hexw(m, B)
                msg = bytes.fromhex(t["msg"])
                if (t["result"] == "valid" and doc.get("schema", "").startswith("rsaes_pkcs1")
                        and not (raw.startswith("0002") and bytes.fromhex(raw).endswith(b"\x00" + msg))):
                    fail(f"{stem}: tcId {t['tcId']}: the reference does not decode to msg")
            print(f"{stem}:{t['tcId']}", key, ct.hex(), raw)
            total += 1
print(f"wycheproof_rsa.py: {total} vectors written, {skipped} skipped (ciphertext not bits/8 bytes: "
      "refused before the core)", file=sys.stderr)
