#!/usr/bin/env python3
"""Turns Wycheproof's Ed25519 test file (ed25519_test.json) into the lines build/native-diff-ed25519 reads:
"public message signature" (hex, "-" for an empty message), one line per valid vector. Ed25519 signing is
deterministic, so a valid vector's signature is the one our signer must produce, for the groups whose
seed is known (test/native/diff_ed25519.c lists them; the file carries public keys only).

  wycheproof_ed25519.py ed25519_test.json > vectors.txt
"""
import json
import sys

for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    for group in doc["testGroups"]:
        pk = group["publicKey"]["pk"]
        for t in group["tests"]:
            if t["result"] == "valid":
                print(pk, t["msg"] or "-", t["sig"])
