#!/usr/bin/env python3
"""ct_scan.py — the disassembly half of `make native-ct-riscv` and the whole of `make native-ct-xtensa`:
conditional branches in the C core's secret paths, as the compiler actually emitted them.

    ct_scan.py [--isa rv32|xtensa] [--objdump-prefix PREFIX] [--list] MANIFEST OBJ...

--isa rv32 (the default; riscv64-unknown-elf- tools): conditional branches are beq bne blt bge bltu bgeu,
their pseudo forms beqz bnez ..., and the compressed c.beqz c.bnez. --isa xtensa (xtensa-lx106-elf-
tools): beq bne blt bge bltu bgeu beqz bnez bltz bgez beqi bnei blti bgei bltui bgeui bany ball bnone
bnall bbc bbs bbci bbsi and their .n forms; the zero-overhead loop instructions loop/loopnez/loopgtz
(LX6/LX7 have them, the lx106 proxy does not) count as conditional branches on their count register.
Conditional moves (Xtensa's moveqz/movnez/movltz/movgez) are not branches: their timing does not depend
on the condition.

The manifest (test/native/ct_branches.txt for rv32, ct_branches_xtensa.txt for Xtensa) names every
function of the core that touches a secret, with the exact number of conditional branches it is allowed
to contain, and a class:

    loops    every conditional branch must be either a backward branch (a loop back-edge) that compares
             only loop-counter registers — each register it reads is either not written inside the loop
             at all (a bound) or written there only by `addi reg, reg, imm` (a counter, or a pointer
             stepping through an array) — or a forward branch that reads only argument registers the
             manifest names as public (a length: the `n == 0` test before a loop), unwritten before it.
             A branch on data fails this, whatever its direction.
    audited  the count is exact and each branch was read and found to depend on public values only
             (lengths, the Montgomery mode, the column counter, the program's opcode); the manifest's
             comment says which. A new branch of any kind changes the count and fails the check.

Functions that the compiler inlined away must not appear in the objects (they are part of their caller's
count); a listed function that is missing, a count that differs, or a loops-class branch that is not a
counter loop's back-edge fails the check, with the offending instructions printed. --list prints every
function's branches (to audit a new compiler's output and update the manifest).
"""
import re
import subprocess
import sys

RV32 = {
    "branches": {"beq", "bne", "blt", "bge", "bltu", "bgeu", "beqz", "bnez", "blez", "bgez", "bltz", "bgtz",
                 "bgt", "ble", "bgtu", "bleu", "c.beqz", "c.bnez"},
    "stores": {"sw", "sh", "sb", "c.sw", "c.swsp", "j", "jr", "ret"},
    "steps": {"add", "addi", "c.addi"},
    "reg": r"(zero|ra|sp|gp|tp|t[0-6]|s[0-9]|s1[01]|a[0-7]|fp)",
    "prefix": "riscv64-unknown-elf-",
}
_XT_BR = ["beq", "bne", "blt", "bge", "bltu", "bgeu", "beqz", "bnez", "bltz", "bgez", "beqi", "bnei", "blti",
          "bgei", "bltui", "bgeui", "bany", "ball", "bnone", "bnall", "bbc", "bbs", "bbci", "bbsi",
          "loop", "loopnez", "loopgtz"]
XTENSA = {
    "branches": set(_XT_BR) | {b + ".n" for b in _XT_BR} | {"bbci.l", "bbsi.l"},
    "stores": {"s32i", "s32i.n", "s16i", "s8i", "s32e", "s32c1i", "ssi", "j", "jx", "ret", "ret.n", "retw",
               "retw.n", "call0", "callx0", "call8", "callx8", "wsr", "wur", "xsr"},
    "steps": {"addi", "addi.n"},
    "consts": {"movi", "movi.n"},
    "spill_loads": {"l32i", "l32i.n"},
    "spill_stores": {"s32i", "s32i.n"},
    "reg": r"(a1[0-5]|a[0-9]|sp)",
    "prefix": "xtensa-lx106-elf-",
}
ISA = RV32
BRANCHES = RV32["branches"]
STORES = RV32["stores"]
INSN = re.compile(r"^\s*([0-9a-f]+):\s+([a-z][a-z0-9.]*)\s*(.*?)\s*(?:#.*)?$")


def functions(tool_prefix, obj):
    """{name: (start, end)} of the FUNC symbols of one object."""
    out = subprocess.run([tool_prefix + "readelf", "-sW", obj], check=True, capture_output=True,
                         text=True).stdout
    funcs = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC":
            start, size = int(f[1], 16), int(f[2])
            funcs[f[7]] = (start, start + size)
    return funcs


def instructions(tool_prefix, obj):
    """[(addr, mnemonic, [operands])] of .text, aliases printed as objdump prints them."""
    out = subprocess.run([tool_prefix + "objdump", "-d", "--no-show-raw-insn", obj], check=True,
                         capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        m = INSN.match(line)
        if m:
            ops = [o.strip() for o in m.group(3).split(",")] if m.group(3) else []
            res.append((int(m.group(1), 16), m.group(2), ops))
    return res


def is_reg(op):
    return re.fullmatch(ISA["reg"], op) is not None


def branch_target(ops):
    return int(ops[-1].split()[0], 16)


def counter_loop(insns, i):
    """True if the backward branch insns[i] reads only counters and bounds of its loop."""
    addr, mn, ops = insns[i]
    target = branch_target(ops)
    regs = [o for o in ops[:-1] if is_reg(o) and o != "zero"]
    body = [x for x in insns if target <= x[0] < addr]
    for r in regs:
        writes = [x for x in body if x[2] and x[2][0] == r and x[1] not in BRANCHES
                  and x[1] not in STORES]
        for w in writes:
            wm, wo = w[1], w[2]
            step = wm in ISA["steps"] and len(wo) == 3 and wo[1] == r and \
                re.fullmatch(r"-?\d+", wo[2]) is not None
            # a constant bound (xtensa: movi a3, -8), or a bound reloaded from a stack slot that the
            # loop never stores to (xtensa: the call to libgcc's __umulsidi3 clobbers a2..a11, so GCC
            # spills the end pointer and reloads it each iteration)
            const = wm in ISA.get("consts", ()) and len(wo) == 2 and re.fullmatch(r"-?\d+", wo[1]) is not None
            reload = wm in ISA.get("spill_loads", ()) and len(wo) == 3 and wo[1] in ("a1", "sp") and \
                not any(x[1] in ISA.get("spill_stores", ()) and len(x[2]) == 3 and x[2][1] == wo[1]
                        and x[2][2] == wo[2] for x in body)
            if not (step or const or reload):
                return False
    return True


def public_arg_test(insns, i, start, pub):
    """True if the forward branch insns[i] reads only public argument registers (named in the manifest)
    that no instruction of the function before it writes: e.g. the `n == 0` test before a loop over n
    limbs."""
    addr, mn, ops = insns[i]
    regs = [o for o in ops[:-1] if is_reg(o) and o != "zero"]
    if not regs or any(r not in pub for r in regs):
        return False
    return not any(start <= x[0] < addr and x[2] and x[2][0] in regs and x[1] not in BRANCHES
                   and x[1] not in STORES for x in insns)


def main(argv):
    global ISA, BRANCHES, STORES
    tool = None
    listing = False
    args = []
    it = iter(argv)
    for a in it:
        if a == "--objdump-prefix":
            tool = next(it)
        elif a == "--isa":
            ISA = {"rv32": RV32, "xtensa": XTENSA}[next(it)]
            BRANCHES, STORES = ISA["branches"], ISA["stores"]
        elif a == "--list":
            listing = True
        else:
            args.append(a)
    tool = tool or ISA["prefix"]
    manifest, objs = args[0], args[1:]
    want = {}
    for line in open(manifest):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        f = line.split()
        want[(f[0], f[1])] = (f[2], int(f[3]), set(f[4:]))

    found = {}
    for obj in objs:
        base = obj.rsplit("/", 1)[-1]
        insns = instructions(tool, obj)
        for name, (start, end) in functions(tool, obj).items():
            idx = [i for i, x in enumerate(insns) if start <= x[0] < end]
            br = [i for i in idx if insns[i][1] in BRANCHES]
            found[(base, name)] = (insns, br, start)
            if listing:
                print(f"{base} {name}: {len(br)} conditional branches")
                for i in br:
                    a, mn, ops = insns[i]
                    back = branch_target(ops) <= a
                    print(f"    {a:6x}  {mn} {','.join(ops)}   {'back' if back else 'fwd'}"
                          f"{' counter' if back and counter_loop(insns, i) else ''}")

    bad = 0
    total = 0
    for (obj, name), (cls, n, pub) in sorted(want.items()):
        if (obj, name) not in found:
            print(f"ct-scan: {obj} {name}: listed in the manifest but not in the object (inlined or renamed?)")
            bad += 1
            continue
        insns, br, start = found[(obj, name)]
        total += len(br)
        problems = []
        if len(br) != n:
            problems.append(f"{len(br)} conditional branches, the manifest allows {n}")
        if cls == "loops":
            for i in br:
                a, mn, ops = insns[i]
                if branch_target(ops) > a:
                    if not public_arg_test(insns, i, start, pub):
                        problems.append(f"forward branch at {a:x} on a register that is not a public "
                                        f"argument: {mn} {','.join(ops)}")
                elif not counter_loop(insns, i):
                    problems.append(f"backward branch at {a:x} reads a register written by data: "
                                    f"{mn} {','.join(ops)}")
        elif cls != "audited":
            problems.append(f"unknown class {cls}")
        if problems:
            bad += 1
            print(f"ct-scan: {obj} {name} ({cls}): " + "; ".join(problems))
            if len(br) != n:
                for i in br:
                    a, mn, ops = insns[i]
                    print(f"    {a:6x}  {mn} {','.join(ops)}")
    nloops = sum(1 for v in want.values() if v[0] == "loops")
    if bad:
        print(f"ct-scan: FAILED: {bad} of {len(want)} secret-path functions have unexpected branches")
        return 1
    print(f"ct-scan: {len(want)} secret-path functions ({nloops} with counter loops only), "
          f"{total} conditional branches, all on public values as listed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
