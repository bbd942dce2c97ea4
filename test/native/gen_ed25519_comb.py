#!/usr/bin/env python3
"""Prints the comb table of modules/wim/native/wim_ed25519.c (`comb`): for d = 0..15, the point
T[d] = d0·B + d1·2^64·B + d2·2^128·B + d3·2^192·B (d = d0 + 2·d1 + 4·d2 + 8·d3) of edwards25519, affine, as
(y + x, y − x, 2·d·x·y), each in Montgomery form (times 2^256 mod p) as eight little-endian 32-bit words.
Plain integer arithmetic from RFC 8032's definitions (section 5.1); the tests check the result (RFC 8032
vectors, OpenSSL on 200 random seeds).

  gen_ed25519_comb.py > table.txt
"""
p = 2**255 - 19
d = -121665 * pow(121666, p - 2, p) % p
R = 2**256


def inv(x):
    return pow(x, p - 2, p)


def add(P, Q):  # affine twisted Edwards addition, a = -1
    (x1, y1), (x2, y2) = P, Q
    t = d * x1 * x2 * y1 * y2 % p
    return ((x1 * y2 + y1 * x2) * inv(1 + t) % p, (y1 * y2 + x1 * x2) * inv(1 - t) % p)


def mul(k, P):
    Q = (0, 1)
    while k:
        if k & 1:
            Q = add(Q, P)
        P = add(P, P)
        k >>= 1
    return Q


by = 4 * inv(5) % p
bx = pow((by * by - 1) * inv(d * by * by + 1) % p, (p + 3) // 8, p)
if (bx * bx - (by * by - 1) * inv(d * by * by + 1)) % p:
    bx = bx * pow(2, (p - 1) // 4, p) % p
if bx & 1:
    bx = p - bx
B = (bx, by)
teeth = [mul(2 ** (64 * j), B) for j in range(4)]


def words(v):
    v = v * R % p
    return ", ".join("0x%08x" % ((v >> (32 * i)) & 0xFFFFFFFF) for i in range(8))


for e in range(16):
    P = (0, 1)
    for j in range(4):
        if e >> j & 1:
            P = add(P, teeth[j])
    x, y = P
    print("\t{ { %s },\n\t  { %s },\n\t  { %s } }," % (words(y + x), words(y - x), words(2 * d * x * y)))
