#!/usr/bin/env python3
"""Turns Wycheproof's ECDH test files (ecpoint encoding) into the lines build/native-diff-ec reads:
"curve private public shared result", hex, "-" for an empty field. The private key is written with the
curve's scalar size (Wycheproof writes it as a signed DER integer: a leading 00, or fewer bytes).

  wycheproof_ecdh.py FILE.json... > vectors.txt
"""
import json
import sys

SIZES = {"secp256r1": 32, "secp384r1": 48}

for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    for group in doc["testGroups"]:
        curve = group["curve"]
        size = SIZES.get(curve)
        for t in group["tests"]:
            if size is None:
                continue
            d = int(t["private"], 16) if t["private"] else 0
            if d.bit_length() > 8 * size:
                continue  # not a scalar of this curve's size: the device never stores one
            priv = d.to_bytes(size, "big").hex()
            print(curve, priv, t["public"] or "-", t["shared"] or "-", t["result"])
