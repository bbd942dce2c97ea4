/**
 * Wycheproof's vectors (C2SP/wycheproof, testvectors_v1) through the project's own code paths:
 *
 * - verify (C_Verify on the PC): pc/agent/publickey.ts `publicKey` + `verify`, with the SignMechanism
 *   entries of pc/agent/mechanisms.ts (the agent hashes with Node; the curves' `verify` of
 *   modules/wim/curves.ts and `pssVerify` of modules/wim/rsa-pad.ts do the rest) — ECDSA P-256 (P1363 and
 *   DER), P-384 (P1363), Ed25519, RSA PKCS#1 v1.5 (2048/3072/4096) and RSA-PSS;
 * - decrypt (C_Decrypt on the device): modules/wim/sign.ts `decrypt` — the device's length check, its
 *   below-the-modulus check and rsa-pad.ts's unpadding — with a NativeCrypto whose `rsaPrivate` (the C
 *   core's raw private operation on the device) is Node's RSA_NO_PADDING private decryption;
 * - sign: the agent's DigestInfo (Operations.prepared, the input it sends with +PKCSSIGN) and the device's
 *   `sign` (EMSA-PKCS1-v1_5, rsa-pad.ts `pkcs1Sign`) with a raw private operation in BigInt arithmetic
 *   (the sig-gen keys carry n, e, d only); Ed25519 signing through the device's `sign` (CKM_EDDSA, with
 *   a stub `edSign` signing on @noble/curves where the device's C core signs: the C signer itself meets
 *   these vectors in `make native-diff-ed25519`).
 *
 * The vectors are read in place from ../shared/vectors/wycheproof (relative to the repository root;
 * WYCHEPROOF_DIR overrides) and never copied here; without that folder every test is skipped, with a
 * message. One summary line per file goes to the log.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ed25519 } from "@noble/curves/ed25519.js";
import { CKA, CKK, CKM, CKR, PkcsError, ckrName } from "../../modules/at/pkcs11.js";
import { ulongValue } from "../../modules/at/template.js";
import type { NativeCrypto } from "../../modules/wim/native.js";
import { decrypt, sign } from "../../modules/wim/sign.js";
import { Operations } from "../../pc/agent/operations.js";
import { SIGN_MECHANISMS, type SignMechanism } from "../../pc/agent/mechanisms.js";
import { nobleDigest, publicKey, verify } from "../../pc/agent/publickey.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DIR = process.env.WYCHEPROOF_DIR ?? path.resolve(ROOT, "../shared/vectors/wycheproof");

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const P384 = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22);
const ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
const CKG_MGF1_SHA256 = 2;
const CKZ_DATA_SPECIFIED = 1;

// ---- the files' shape (only what is used) ----

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  result: "valid" | "invalid" | "acceptable";
  msg: string;
  sig?: string;
  ct?: string;
  label?: string;
}
interface RsaJwk { kty: string; n: string; e: string; d: string; p: string; q: string; dp: string; dq: string; qi: string }
interface Group {
  sha?: string;
  sLen?: number;
  mgfSha?: string;
  publicKey: { uncompressed?: string; pk?: string; modulus?: string; publicExponent?: string };
  privateKey: { modulus: string; publicExponent: string; privateExponent: string };
  privateKeyJwk?: RsaJwk;
  tests: Vector[];
}
interface VectorFile { algorithm: string; numberOfTests: number; testGroups: Group[] }

const hex = (s: string | undefined) => Uint8Array.from(Buffer.from(s ?? "", "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** A big-endian integer without its leading zero bytes (CKA_MODULUS, CKA_PUBLIC_EXPONENT). */
const unsigned = (b: Uint8Array) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};
/** A DER OCTET STRING around a short value: the CKA_EC_POINT form the device stores. */
const octetString = (b: Uint8Array) => Uint8Array.from([0x04, b.length, ...b]);
const u64 = (...v: number[]) => {
  const out = Buffer.alloc(8 * v.length);
  v.forEach((x, i) => out.writeBigUInt64LE(BigInt(x), 8 * i));
  return out;
};
const mechanism = (type: number): SignMechanism => {
  const m = SIGN_MECHANISMS.find((x) => x.type === type);
  assert.ok(m, `mechanism 0x${type.toString(16)} is not in the agent's SIGN_MECHANISMS`);
  return m;
};

function load(file: string): VectorFile | undefined {
  const p = path.join(DIR, file);
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as VectorFile) : undefined;
}

/**
 * Vectors where the project's code is known to disagree with Wycheproof, by path and file, then tcId:
 * the failure expected (its text) and why. Such a failure is reported in the file's summary line
 * instead of failing the test; any other failure of the vector still fails it, and so does a known
 * issue that no longer occurs (then its entry goes). The fixes are outside this test's files.
 */
const KNOWN_ISSUES: Record<string, Record<number, { failure: string; why: string }>> = {};

/** Per-file bookkeeping: what passed, the acceptable cases either way, what was skipped and why, failures. */
class Tally {
  vectors = 0;
  passed = 0;
  readonly acceptable = { accepted: 0, refused: 0 };
  readonly refusals = new Map<string, number>();
  readonly skipped = new Map<string, number>();
  readonly failures: string[] = [];
  /** Known issues (KNOWN_ISSUES) that did occur. */
  readonly known = new Set<number>();

  /** This file's KNOWN_ISSUES on this path. */
  readonly issues: Record<number, { failure: string; why: string }>;

  /** `route`: the code path, then a comma and details; its first word keys KNOWN_ISSUES. */
  constructor(readonly file: string, readonly route: string) {
    this.issues = KNOWN_ISSUES[`${route.split(",")[0]} ${file}`] ?? {};
  }

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
  skip(reason: string): void {
    this.count(this.skipped, reason);
  }
  fail(t: Vector, what: string): void {
    if (this.issues[t.tcId]?.failure === what) {
      this.known.add(t.tcId);
      return;
    }
    this.failures.push(`tcId ${t.tcId} (${t.result}; ${t.flags.join(",") || "-"}; ${t.comment || "-"}): ${what}`);
  }
  /** Checks an accept/refuse outcome against the vector's result. */
  judge(t: Vector, accepted: boolean, refusal?: string): void {
    this.vectors++;
    if (t.result === "acceptable") {
      if (accepted) this.acceptable.accepted++;
      else this.acceptable.refused++;
      return;
    }
    if (accepted === (t.result === "valid")) {
      this.passed++;
      if (!accepted) this.count(this.refusals, refusal ?? "refused");
    } else this.fail(t, accepted ? "accepted" : `refused (${refusal})`);
  }
  /** One line for the CI log; then every failure at once. */
  report(): void {
    const list = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v}`).join(", ");
    const skipped = [...this.skipped.values()].reduce((a, b) => a + b, 0);
    console.log(`      wycheproof ${this.file} [${this.route}]: ${this.vectors + skipped} vectors, ${this.passed} passed`
      + (this.refusals.size ? ` (refused: ${list(this.refusals)})` : "")
      + `, acceptable ${this.acceptable.accepted + this.acceptable.refused} (accepted ${this.acceptable.accepted}, refused ${this.acceptable.refused})`
      + `, skipped ${skipped}${skipped ? ` (${list(this.skipped)})` : ""}, failed ${this.failures.length}`
      + (this.known.size ? `, known issues ${this.known.size} (${[...this.known].map((id) => `tcId ${id}: ${this.issues[id].why}`).join("; ")})` : ""));
    assert.deepEqual(this.failures, [], `${this.file}: ${this.failures.length} vectors failed`);
    const fixed = Object.keys(this.issues).map(Number).filter((id) => !this.known.has(id));
    assert.deepEqual(fixed, [], `${this.file}: these KNOWN_ISSUES no longer occur: remove them from the list`);
  }
}

/** The PKCS#11 outcome of `fn`: accepted, or refused with a CKR (any other exception is a failure). */
function outcome(fn: () => void): { accepted: boolean; rv?: number; error?: unknown } {
  try {
    fn();
    return { accepted: true };
  } catch (e) {
    if (e instanceof PkcsError) return { accepted: false, rv: e.rv };
    return { accepted: false, error: e };
  }
}

/** C_Verify's rejections: anything else (or a non-PkcsError) from verify is a bug. */
const VERIFY_REFUSALS = new Set<number>([CKR.SIGNATURE_INVALID, CKR.SIGNATURE_LEN_RANGE]);

/** Runs `sig` over `msg` through the agent's verify and judges the outcome. */
function judgeVerify(tally: Tally, t: Vector, m: SignMechanism, attrs: Map<number, Uint8Array>, parameter: Uint8Array,
  sig: Uint8Array): void {
  const r = outcome(() => verify(m, publicKey(attrs), parameter, hex(t.msg), sig));
  if (r.error !== undefined) {
    tally.vectors++;
    tally.fail(t, `verify threw ${String(r.error)} instead of a CKR`);
  } else if (!r.accepted && !VERIFY_REFUSALS.has(r.rv!)) {
    tally.vectors++;
    tally.fail(t, `verify refused with ${ckrName(r.rv!)}, not CKR_SIGNATURE_INVALID / CKR_SIGNATURE_LEN_RANGE`);
  } else tally.judge(t, r.accepted, r.rv === undefined ? undefined : ckrName(r.rv));
}

/**
 * Negative control: a valid vector with one byte of its signature flipped must be refused (so that a
 * verify that accepts everything cannot pass this file).
 */
function flippedIsRefused(file: string, m: SignMechanism, attrs: Map<number, Uint8Array>, parameter: Uint8Array,
  t: Vector): void {
  const sig = hex(t.sig);
  sig[sig.length >> 1] ^= 0x01;
  const r = outcome(() => verify(m, publicKey(attrs), parameter, hex(t.msg), sig));
  assert.equal(r.accepted, false, `${file} tcId ${t.tcId}: a flipped signature byte still verifies`);
}

/**
 * Strict DER (X.690 §10) ECDSA-Sig-Value → r‖s of `size` bytes each, as PKCS#11's CKM_ECDSA wants it;
 * undefined for anything that is not minimal DER (BER lengths, indefinite lengths, non-minimal or
 * negative INTEGERs, trailing bytes, other tags) or whose integers do not fit in `size` bytes.
 */
function derToRaw(der: Uint8Array, size: number): Uint8Array | undefined {
  let o = 0;
  const length = (): number | undefined => {
    if (o >= der.length) return undefined;
    const b = der[o++];
    if (b < 0x80) return b;
    if (b !== 0x81 || o >= der.length) return undefined; // 0x80: indefinite (BER); longer forms are never minimal here
    const l = der[o++];
    return l >= 0x80 ? l : undefined; // 0x81 for a length below 128 is not minimal
  };
  const integer = (): Uint8Array | undefined => {
    if (o >= der.length || der[o++] !== 0x02) return undefined;
    const l = length();
    if (l === undefined || l === 0 || o + l > der.length) return undefined;
    const v = der.subarray(o, o + l);
    o += l;
    if (v[0] & 0x80) return undefined; // negative
    if (l > 1 && v[0] === 0 && !(v[1] & 0x80)) return undefined; // a leading zero that is not needed
    const magnitude = l > 1 && v[0] === 0 ? v.subarray(1) : v;
    return magnitude.length <= size ? magnitude : undefined;
  };
  if (der[o++] !== 0x30) return undefined;
  const l = length();
  if (l === undefined || o + l !== der.length) return undefined;
  const r = integer();
  const s = r && integer();
  if (!r || !s || o !== der.length) return undefined;
  const out = new Uint8Array(2 * size);
  out.set(r, size - r.length);
  out.set(s, 2 * size - s.length);
  return out;
}

/**
 * input^d mod n, big-endian in k bytes: the sig-gen keys carry n, e and d only, and Node's
 * createPrivateKey refuses an RSA JWK without p, q, dp, dq and qi.
 */
function rawPrivate(input: Uint8Array, d: bigint, n: bigint, k: number): Uint8Array {
  let base = BigInt("0x" + (toHex(input) || "0")) % n, e = d, r = 1n;
  for (; e > 0n; e >>= 1n, base = (base * base) % n) if (e & 1n) r = (r * base) % n;
  return hex(r.toString(16).padStart(2 * k, "0"));
}

/** A NativeCrypto with only what sign()/decrypt() call here; anything else is a test bug. */
function nativeWith(part: Partial<NativeCrypto>): NativeCrypto {
  // rsa-pad's hashes on the device are the C core's NativeCrypto.hash; here @noble's (the simulator tests run the C)
  part.hash ??= (alg, m) => nobleDigest(alg, m instanceof Uint8Array ? m : new Uint8Array(m)).slice().buffer as ArrayBuffer;
  return new Proxy(part, {
    get: (target, name) => {
      const f = target[name as keyof NativeCrypto];
      if (f === undefined) throw new Error(`NativeCrypto.${String(name)} is not stubbed in this test`);
      return f;
    },
  }) as NativeCrypto;
}

/**
 * Ed25519 seeds of the keys in ed25519_test.json (the file carries public keys only). Each is
 * checked against the group's public key before use; groups whose seed is not listed are skipped.
 * Sources: RFC 8032 §7.1 (TEST 1, 2, 3, 1024); Wycheproof's generator (its key for most of the file, and
 * the keys of its "Random test failure" cases).
 */
const ED25519_SEEDS = [
  "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", // RFC 8032 TEST 1
  "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", // RFC 8032 TEST 2
  "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", // RFC 8032 TEST 3
  "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5", // RFC 8032 TEST 1024
  "add4bb8103785baf9ac534258e8aaf65f5f1adb5ef5f3df19bb80ab989c4d64b", // Wycheproof's main Ed25519 key
  "0a23a20072891237aa0864b5765139514908787878cd77135a0059881d313f00", // Wycheproof
  "c367c8d2ebeeecd70c1e8985b70c3808b75657f243b21ba4f322792540e92257", // Wycheproof (random test failure 4)
  "b7d2f64276df417fed27d8e15b4e90f6fd93dace707294c338bd32bc4bbd8fdb", // Wycheproof (random test failure 7)
];

describe("Wycheproof vectors through the project's own code", function () {
  this.timeout(60_000);

  before(function () {
    if (!existsSync(DIR)) {
      console.log(`      wycheproof: ${DIR} is absent: every Wycheproof test is skipped (set WYCHEPROOF_DIR)`);
      this.skip();
    }
  });

  /** Loads `file`, or skips the test with a message when it is missing. */
  function vectors(ctx: Mocha.Context, file: string): VectorFile {
    const v = load(file);
    if (!v) {
      console.log(`      wycheproof: ${file} is absent from ${DIR}: skipped`);
      ctx.skip();
    }
    return v!;
  }

  // ---- verify: pc/agent/publickey.ts ----

  /** CKA_EC_POINT as the device stores it (a DER OCTET STRING), or `raw` (the bare point, which publicKey also takes). */
  const ecAttrs = (params: Uint8Array, point: Uint8Array, keyType: number, raw = false) => new Map<number, Uint8Array>([
    [CKA.KEY_TYPE, ulongValue(keyType)], [CKA.EC_PARAMS, params], [CKA.EC_POINT, raw ? point : octetString(point)],
  ]);
  const rsaAttrs = (g: Group) => new Map<number, Uint8Array>([
    [CKA.KEY_TYPE, ulongValue(CKK.RSA)], [CKA.MODULUS, unsigned(hex(g.publicKey.modulus))],
    [CKA.PUBLIC_EXPONENT, unsigned(hex(g.publicKey.publicExponent))],
  ]);
  const none = () => new Uint8Array(0);

  /** Every vector of `file` through the agent's verify with mechanism `type`; one negative control. */
  function verifyFile(ctx: Mocha.Context, file: string, route: string, type: number, attrsOf: (g: Group) => Map<number, Uint8Array>,
    parameterOf: (g: Group) => Uint8Array = none): void {
    const v = vectors(ctx, file);
    const tally = new Tally(file, route);
    const m = mechanism(type);
    let control = false;
    for (const g of v.testGroups) {
      const attrs = attrsOf(g), parameter = parameterOf(g);
      for (const t of g.tests) {
        judgeVerify(tally, t, m, attrs, parameter, hex(t.sig));
        if (!control && t.result === "valid") control = (flippedIsRefused(file, m, attrs, parameter, t), true);
      }
    }
    assert.ok(control, "no valid vector for the negative control");
    assert.equal(tally.vectors, v.numberOfTests);
    tally.report();
  }

  for (const [file, params, type] of [
    ["ecdsa_secp256r1_sha256_p1363_test.json", P256, CKM.ECDSA_SHA256],
    ["ecdsa_secp384r1_sha384_p1363_test.json", P384, CKM.ECDSA_SHA384],
  ] as const) {
    it(`verify: ${file} (CKM_ECDSA_SHA*, r‖s as PKCS#11 carries ECDSA signatures)`, function () {
      verifyFile(this, file, "verify, CKM_ECDSA_SHA*", type, (g) => ecAttrs(params, hex(g.publicKey.uncompressed), CKK.EC));
    });
  }

  it("verify: ecdsa_secp256r1_sha256_test.json (DER, through a strict DER → r‖s converter)", function () {
    // PKCS#11 carries r‖s and the project has no DER signature parser: this file's DER-specific cases
    // test the converter below, not the project. The p1363 file above is the main check; here only the
    // signatures that strict DER accepts reach verify. The converter must refuse no valid vector.
    const file = "ecdsa_secp256r1_sha256_test.json";
    const v = vectors(this, file);
    const tally = new Tally(file, "verify, CKM_ECDSA_SHA256 after strict DER → r‖s");
    const m = mechanism(CKM.ECDSA_SHA256);
    for (const g of v.testGroups) {
      const attrs = ecAttrs(P256, hex(g.publicKey.uncompressed), CKK.EC);
      for (const t of g.tests) {
        const raw = derToRaw(hex(t.sig), 32);
        if (raw) judgeVerify(tally, t, m, attrs, new Uint8Array(0), raw);
        else if (t.result === "valid") {
          tally.vectors++;
          tally.fail(t, "the strict DER converter refused a valid signature");
        } else tally.skip(`${t.result}, refused by the strict DER converter (not the project's code)`);
      }
    }
    assert.equal(tally.vectors + [...tally.skipped.values()].reduce((a, b) => a + b, 0), v.numberOfTests);
    tally.report();
  });

  it("verify: ed25519_test.json (CKM_EDDSA)", function () {
    verifyFile(this, "ed25519_test.json", "verify, CKM_EDDSA", CKM.EDDSA, (g) => ecAttrs(ED25519, hex(g.publicKey.pk), CKK.EC_EDWARDS));
  });

  for (const [file, params, keyType, type] of [
    ["ecdsa_secp256r1_sha256_p1363_test.json", P256, CKK.EC, CKM.ECDSA_SHA256],
    ["ecdsa_secp384r1_sha384_p1363_test.json", P384, CKK.EC, CKM.ECDSA_SHA384],
    ["ed25519_test.json", ED25519, CKK.EC_EDWARDS, CKM.EDDSA],
  ] as const) {
    it(`verify: ${file} with a bare CKA_EC_POINT (not DER-wrapped; publicKey accepts both)`, function () {
      // The device stores what C_CreateObject is given (create.ts does not check CKA_EC_POINT), and
      // publicKey() unwraps a DER OCTET STRING by looking at its first two bytes.
      verifyFile(this, file, "verify-bare-point, CKA_EC_POINT without its OCTET STRING", type,
        (g) => ecAttrs(params, hex(g.publicKey.uncompressed ?? g.publicKey.pk), keyType, true));
    });
  }

  for (const bits of [2048, 3072, 4096]) {
    const file = `rsa_signature_${bits}_sha256_test.json`;
    it(`verify: ${file} (CKM_SHA256_RSA_PKCS)`, function () {
      verifyFile(this, file, "verify, CKM_SHA256_RSA_PKCS", CKM.SHA256_RSA_PKCS, (g) => {
        assert.equal(g.sha, "SHA-256");
        return rsaAttrs(g);
      });
    });
  }

  it("verify: rsa_pss_2048_sha256_mgf1_32_test.json (CKM_SHA256_RSA_PKCS_PSS, MGF1-SHA256, sLen 32)", function () {
    verifyFile(this, "rsa_pss_2048_sha256_mgf1_32_test.json", "verify, CKM_SHA256_RSA_PKCS_PSS", 0x43, (g) => {
      assert.equal(g.sha, "SHA-256");
      assert.equal(g.mgfSha, "SHA-256");
      return rsaAttrs(g);
    }, (g) => u64(CKM.SHA256, CKG_MGF1_SHA256, g.sLen!)); // CK_RSA_PKCS_PSS_PARAMS
  });

  // ---- decrypt: modules/wim/sign.ts decrypt on the device ----

  /**
   * Runs every vector of `file` through the device's decrypt with the group's key doing the raw
   * private operation. Valid: the plaintext is `msg`. Invalid: a PkcsError with the CKR the device
   * returns — CKR_ENCRYPTED_DATA_LEN_RANGE when the ciphertext is not k bytes (sign.ts decrypt refuses
   * it before any private operation), CKR_ENCRYPTED_DATA_INVALID otherwise (padding, or a block not
   * below the modulus: see KNOWN_ISSUES).
   */
  function decryptFile(ctx: Mocha.Context, file: string, mech: number, parameter: (t: Vector) => Uint8Array): void {
    const v = vectors(ctx, file);
    const tally = new Tally(file, `decrypt, sign.ts decrypt ${mech === CKM.RSA_PKCS ? "CKM_RSA_PKCS" : "CKM_RSA_PKCS_OAEP"}`);
    let control = false;
    for (const g of v.testGroups) {
      const key = crypto.createPrivateKey({ key: g.privateKeyJwk as crypto.JsonWebKey, format: "jwk" });
      const modulus = unsigned(hex(g.privateKey.modulus));
      const k = modulus.length;
      let privateOps = 0;
      const native = nativeWith({
        rsaPrivate: (_id, input) => {
          privateOps++;
          const block = crypto.privateDecrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, Buffer.from(input));
          assert.equal(block.length, k);
          return Uint8Array.from(block).buffer;
        },
      });
      for (const t of g.tests) {
        const ct = hex(t.ct);
        const before = privateOps;
        let plain: Uint8Array | undefined, error: unknown;
        try {
          plain = decrypt(native, 1, mech, parameter(t), ct, modulus);
        } catch (e) {
          error = e;
        }
        const lengthRefused = ct.length !== k;
        const expected = lengthRefused ? CKR.ENCRYPTED_DATA_LEN_RANGE : CKR.ENCRYPTED_DATA_INVALID;
        tally.vectors++;
        if (t.result === "valid") {
          if (plain && toHex(plain) === t.msg) tally.passed++;
          else tally.fail(t, plain ? `decrypted to ${toHex(plain)}, not ${t.msg}` : `refused: ${String(error)}`);
        } else if (t.result === "invalid") {
          if (!(error instanceof PkcsError)) tally.fail(t, plain ? `decrypted to ${toHex(plain)}` : `threw ${String(error)}, not a PkcsError`);
          else if (error.rv !== expected) tally.fail(t, `refused with ${ckrName(error.rv)}, expected ${ckrName(expected)}`);
          else if (lengthRefused && privateOps !== before) tally.fail(t, "a ciphertext of the wrong length reached the private operation");
          else {
            tally.passed++;
            tally.count(tally.refusals, ckrName(error.rv) + (lengthRefused ? " (length, before the private operation)" : ""));
          }
        } else if (plain) tally.acceptable.accepted++;
        else tally.acceptable.refused++;
        if (!control && t.result === "valid") {
          // negative control: the same block with its last ciphertext bit flipped must not give `msg`
          const bad = ct.slice();
          bad[bad.length - 1] ^= 1;
          const r = outcome(() => assert.notEqual(toHex(decrypt(native, 1, mech, parameter(t), bad, modulus)), t.msg));
          assert.ok(r.accepted || r.rv !== undefined, `${file} tcId ${t.tcId}: flipped ciphertext: ${String(r.error)}`);
          control = true;
        }
      }
    }
    assert.ok(control);
    assert.equal(tally.vectors, v.numberOfTests);
    tally.report();
  }

  it("decrypt: rsa_pkcs1_2048_test.json (CKM_RSA_PKCS)", function () {
    decryptFile(this, "rsa_pkcs1_2048_test.json", CKM.RSA_PKCS, () => new Uint8Array(0));
  });

  it("decrypt: rsa_oaep_2048_sha256_mgf1sha256_test.json (CKM_RSA_PKCS_OAEP, SHA-256, MGF1-SHA256, label)", function () {
    decryptFile(this, "rsa_oaep_2048_sha256_mgf1sha256_test.json", CKM.RSA_PKCS_OAEP, (t) => {
      // the flattened CK_RSA_PKCS_OAEP_PARAMS: hashAlg, mgf, source (u64 each), u32 label length, label
      const label = hex(t.label);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(label.length);
      return Buffer.concat([u64(CKM.SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED), len, label]);
    });
  });

  // ---- sign: the agent's DigestInfo + the device's EMSA-PKCS1-v1_5; Ed25519 on the device ----

  it("sign: rsa_pkcs1_2048_sig_gen_test.json (CKM_SHA*_RSA_PKCS: agent's DigestInfo, device's pkcs1Sign)", function () {
    const file = "rsa_pkcs1_2048_sig_gen_test.json";
    const v = vectors(this, file);
    const tally = new Tally(file, "sign, Operations.prepared + sign.ts sign CKM_RSA_PKCS");
    const types: Record<string, number> = {
      "SHA-1": CKM.SHA1_RSA_PKCS, "SHA-224": 0x46, "SHA-256": CKM.SHA256_RSA_PKCS, "SHA-384": CKM.SHA384_RSA_PKCS,
      "SHA-512": CKM.SHA512_RSA_PKCS,
    };
    const prepared = Operations["prepared"]; // the agent's C_Sign input: DigestInfo ‖ digest
    let verified = 0;
    for (const g of v.testGroups) {
      const m = mechanism(types[g.sha!]);
      const modulus = unsigned(hex(g.privateKey.modulus));
      const n = BigInt("0x" + toHex(modulus)), d = BigInt("0x" + g.privateKey.privateExponent);
      const native = nativeWith({ rsaPrivate: (_id, input) => rawPrivate(new Uint8Array(input), d, n, modulus.length).buffer as ArrayBuffer });
      const key = new Map<number, Uint8Array>([[CKA.KEY_TYPE, ulongValue(CKK.RSA)], [CKA.MODULUS, modulus]]);
      const attrs = new Map<number, Uint8Array>([[CKA.KEY_TYPE, ulongValue(CKK.RSA)], [CKA.MODULUS, modulus],
        [CKA.PUBLIC_EXPONENT, unsigned(hex(g.privateKey.publicExponent))]]);
      for (const t of g.tests) {
        const input = prepared({ m, key: 1, parameter: new Uint8Array(0), size: modulus.length, parts: [],
          hash: crypto.createHash(m.hash!.node).update(hex(t.msg)) });
        const r = outcome(() => {
          const sig = sign(native, () => assert.fail("CKM_RSA_PKCS draws no randomness"), 1, m.base, new Uint8Array(0), input, key);
          assert.equal(toHex(sig), t.sig);
        });
        if (r.error !== undefined && !(r.error instanceof assert.AssertionError)) throw r.error;
        if (r.rv !== undefined) tally.fail(t, `sign refused with ${ckrName(r.rv)}`);
        else tally.judge(t, r.accepted, "a different signature");
        // and the agent's verify takes the vector's signature
        if (t.result !== "invalid") {
          const ok = outcome(() => verify(m, publicKey(attrs), new Uint8Array(0), hex(t.msg), hex(t.sig)));
          if (ok.accepted) verified++;
          else if (t.result === "valid") tally.fail(t, `verify refused the vector's signature: ${String(ok.error ?? ckrName(ok.rv!))}`);
        }
      }
    }
    assert.equal(tally.vectors, v.numberOfTests);
    assert.ok(verified > 0);
    tally.report();
  });

  it("sign: ed25519_test.json (CKM_EDDSA on the device, keys whose seed is known)", function () {
    const file = "ed25519_test.json";
    const v = vectors(this, file);
    const seeds = new Map(ED25519_SEEDS.map((s) => [toHex(ed25519.getPublicKey(hex(s))), hex(s)]));
    const tally = new Tally(file, "sign, sign.ts sign CKM_EDDSA");
    const key = new Map<number, Uint8Array>([[CKA.KEY_TYPE, ulongValue(CKK.EC_EDWARDS)], [CKA.EC_PARAMS, ED25519]]);
    const used = new Set<string>();
    for (const g of v.testGroups) {
      const seed = seeds.get(g.publicKey.pk!);
      const native = nativeWith({ edSign: (_id, m) => ed25519.sign(new Uint8Array(m), seed!).slice().buffer as ArrayBuffer });
      for (const t of g.tests) {
        if (!seed) tally.skip("no private key in the file and the seed is not listed here");
        else if (t.result !== "valid") tally.skip(`${t.result}: signing checks the valid vectors`);
        else {
          used.add(g.publicKey.pk!);
          const sig = sign(native, () => assert.fail("Ed25519 draws no randomness"), 1, CKM.EDDSA, new Uint8Array(0), hex(t.msg), key);
          tally.judge(t, toHex(sig) === t.sig, `signed ${toHex(sig)}`);
        }
      }
    }
    tally.report();
    assert.equal(used.size, seeds.size, "a listed seed matched no group of the file");
    assert.ok(tally.passed >= 30, "too few Ed25519 vectors signed");
  });
});
