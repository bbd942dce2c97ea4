/**
 * `wim keys list | generate | delete | export-public`: the token's key pairs, by CKA_ID (hex) or label.
 */
import crypto from "node:crypto";
import { writeFileSync } from "node:fs";
import { CKA, CKK, CKM, CKO, CKU } from "../../modules/at/pkcs11.js";
import { readBool, readUlong, ulongValue } from "../../modules/at/template.js";
import { CURVES, curveByParams, rawPoint } from "../../modules/wim/curves.js";
import { Failure, type KEY_TYPE_NAMES, UsageError } from "./common.js";
import { type PinSources, userPin } from "./pin.js";
import type { AgentClient, Attr } from "./rpc.js";
import { confirmed } from "./secret.js";
import { type Global, login, withToken } from "./token.js";

const TRUE = Uint8Array.of(1);
const FALSE = Uint8Array.of(0);
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");

/** The key types `wim keys generate --type` knows, with the mechanism and template that make each. */
export const KEY_TYPES: Record<(typeof KEY_TYPE_NAMES)[number], { mechanism: number; bits: number; curve?: string }> = {
  rsa2048: { mechanism: CKM.RSA_PKCS_KEY_PAIR_GEN, bits: 2048 },
  rsa3072: { mechanism: CKM.RSA_PKCS_KEY_PAIR_GEN, bits: 3072 },
  rsa4096: { mechanism: CKM.RSA_PKCS_KEY_PAIR_GEN, bits: 4096 },
  p256: { mechanism: CKM.EC_KEY_PAIR_GEN, bits: 256, curve: "P-256" },
  p384: { mechanism: CKM.EC_KEY_PAIR_GEN, bits: 384, curve: "P-384" },
  ed25519: { mechanism: CKM.EC_EDWARDS_KEY_PAIR_GEN, bits: 255, curve: "Ed25519" },
};

/** The attributes `keys list` shows; usage flags by name. */
const USAGE: [string, number][] = [
  ["sign", CKA.SIGN], ["verify", CKA.VERIFY], ["decrypt", CKA.DECRYPT], ["encrypt", CKA.ENCRYPT],
  ["derive", CKA.DERIVE], ["wrap", CKA.WRAP], ["unwrap", CKA.UNWRAP],
];
const LISTED = [CKA.CLASS, CKA.KEY_TYPE, CKA.LABEL, CKA.ID, CKA.MODULUS_BITS, CKA.MODULUS, CKA.EC_PARAMS, CKA.LOCAL, ...USAGE.map(([, t]) => t)];

/** One key object in `wim keys list --json`. */
export interface KeyJson {
  id: string;
  label: string;
  class: "public" | "private";
  type: "rsa" | "ec" | "ed25519" | "unknown";
  bits: number | null;
  curve: string | null;
  usage: string[];
  local: boolean;
}

function keyJson(a: Map<number, Uint8Array>): KeyJson {
  const cls = readUlong(a.get(CKA.CLASS)!) === CKO.PRIVATE_KEY ? "private" : "public";
  const kt = a.has(CKA.KEY_TYPE) ? readUlong(a.get(CKA.KEY_TYPE)!) ?? -1 : -1;
  const curve = a.has(CKA.EC_PARAMS) ? curveByParams(a.get(CKA.EC_PARAMS)!) : undefined;
  const bits = kt === CKK.RSA ? (a.has(CKA.MODULUS_BITS) ? readUlong(a.get(CKA.MODULUS_BITS)!) ?? null : a.has(CKA.MODULUS) ? a.get(CKA.MODULUS)!.length * 8 : null) : curve?.bits ?? null;
  return {
    id: hex(a.get(CKA.ID)), label: Buffer.from(a.get(CKA.LABEL) ?? []).toString("utf8"), class: cls,
    type: kt === CKK.RSA ? "rsa" : kt === CKK.EC ? "ec" : kt === CKK.EC_EDWARDS ? "ed25519" : "unknown",
    bits, curve: curve?.name ?? null, usage: USAGE.filter(([, t]) => a.has(t) && readBool(a.get(t)!)).map(([n]) => n),
    local: a.has(CKA.LOCAL) && readBool(a.get(CKA.LOCAL)!) === true,
  };
}

/** Every key object session `h` sees, with its attributes. */
async function keyObjects(agent: AgentClient, h: number): Promise<{ handle: number; attrs: Map<number, Uint8Array> }[]> {
  const out = [];
  for (const cls of [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY]) {
    for (const handle of await agent.find(h, [{ type: CKA.CLASS, value: ulongValue(cls) }])) {
      out.push({ handle, attrs: await agent.attributes(h, handle, LISTED) });
    }
  }
  return out;
}

/** The key objects named by `key`: a hex CKA_ID, else a label. */
async function named(agent: AgentClient, h: number, key: string) {
  const all = await keyObjects(agent, h);
  const byId = /^([0-9a-f]{2})+$/i.test(key) ? all.filter((k) => hex(k.attrs.get(CKA.ID)) === key.toLowerCase()) : [];
  if (byId.length) return byId;
  return all.filter((k) => Buffer.from(k.attrs.get(CKA.LABEL) ?? []).toString("utf8") === key);
}

/** `wim keys list [--login] [--json]`: public keys always; private ones after the user PIN (--login). */
export async function list(g: Global, o: PinSources & { json?: boolean; login?: boolean }): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const h = await agent.openSession(false, slot.id);
    if (o.login) await login(agent, slot.id, h, CKU.USER, await userPin(o));
    const keys = (await keyObjects(agent, h)).map((k) => keyJson(k.attrs));
    if (o.json) {
      console.log(JSON.stringify({ slot: slot.id, serial: slot.token.serial, loggedIn: !!o.login, keys }, null, 2));
      return;
    }
    if (!keys.length) console.log(o.login ? "no keys" : "no public keys (private keys are listed with --login)");
    for (const k of keys) {
      const size = k.curve ?? (k.bits ? `${k.bits} bits` : "?");
      console.log(`${k.class.padEnd(7)} ${k.id.padEnd(16)} ${k.type.padEnd(7)} ${size.padEnd(9)} ${k.usage.join(",").padEnd(18)} ${k.label}`);
    }
    if (!o.login && keys.length) console.error("(public keys only: --login lists the private keys too)");
  });
}

/** The first CKA_ID of one byte (01, 02, …) that no key uses. */
function freeId(used: Set<string>): Uint8Array {
  for (let i = 1; i < 256; i++) if (!used.has(i.toString(16).padStart(2, "0"))) return Uint8Array.of(i);
  return crypto.randomBytes(8);
}

/** Prints the elapsed time of a long operation on a terminal's standard error; nothing otherwise. */
function progress(what: string): () => void {
  if (!process.stderr.isTTY) return () => undefined;
  const start = Date.now();
  const show = () => process.stderr.write(`\r${what}… ${((Date.now() - start) / 1000).toFixed(1)} s`);
  show();
  const timer = setInterval(show, 200);
  return () => {
    clearInterval(timer);
    process.stderr.write(`\r${what}: ${((Date.now() - start) / 1000).toFixed(1)} s\x1b[K\n`);
  };
}

/** `wim keys generate --type T [--label L] [--id HEX]`. */
export async function generate(g: Global, o: PinSources & { type: string; label?: string; id?: string }): Promise<void> {
  const kind = KEY_TYPES[o.type as keyof typeof KEY_TYPES];
  if (!kind) throw new UsageError(`--type ${o.type}: one of ${Object.keys(KEY_TYPES).join(", ")}`);
  if (o.id !== undefined && !/^([0-9a-f]{2})+$/i.test(o.id)) throw new UsageError(`--id takes hex bytes (e.g. 01 or 0a1b), not "${o.id}"`);
  await withToken(g, async (agent, slot) => {
    const mech = (await agent.mechanisms(slot.id)).find((m) => m.type === kind.mechanism);
    if (!mech || (kind.mechanism === CKM.RSA_PKCS_KEY_PAIR_GEN && (kind.bits < mech.min || kind.bits > mech.max))) {
      const can = Object.entries(KEY_TYPES).filter(([, k]) => k.mechanism !== CKM.RSA_PKCS_KEY_PAIR_GEN || k.bits !== kind.bits).map(([n]) => n);
      throw new Failure(`this token does not generate ${o.type} keys${mech ? ` (RSA ${mech.min}–${mech.max} bits)` : ""}; try one of: ${can.join(", ")}`);
    }
    const h = await agent.openSession(true, slot.id);
    await login(agent, slot.id, h, CKU.USER, await userPin(o));
    const used = new Set((await keyObjects(agent, h)).map((k) => hex(k.attrs.get(CKA.ID))));
    const id = o.id ? Buffer.from(o.id, "hex") : freeId(used);
    if (used.has(hex(id))) throw new Failure(`a key with ID ${hex(id)} exists: give another --id, or delete it first (\`wim keys delete ${hex(id)}\`)`);
    const label = Buffer.from(o.label ?? `${o.type} ${hex(id)}`, "utf8");
    const common: Attr[] = [{ type: CKA.TOKEN, value: TRUE }, { type: CKA.ID, value: id }, { type: CKA.LABEL, value: label }];
    const pub: Attr[] = [...common, { type: CKA.VERIFY, value: TRUE }, { type: CKA.PRIVATE, value: FALSE }];
    const priv: Attr[] = [...common, { type: CKA.SIGN, value: TRUE }, { type: CKA.PRIVATE, value: TRUE }, { type: CKA.SENSITIVE, value: TRUE }];
    if (kind.curve) {
      pub.push({ type: CKA.EC_PARAMS, value: CURVES.find((c) => c.name === kind.curve)!.params[0] });
      if (kind.curve !== "Ed25519") priv.push({ type: CKA.DERIVE, value: TRUE });
    } else {
      pub.push({ type: CKA.MODULUS_BITS, value: ulongValue(kind.bits) }, { type: CKA.PUBLIC_EXPONENT, value: Uint8Array.of(1, 0, 1) },
        { type: CKA.ENCRYPT, value: TRUE });
      priv.push({ type: CKA.DECRYPT, value: TRUE });
    }
    const done = progress(`generating a ${o.type} key on ${slot.token.serial}`);
    try {
      await agent.generateKeyPair(h, kind.mechanism, pub, priv);
    } finally {
      done();
    }
    console.log(`generated ${o.type} key ${hex(id)} "${label.toString("utf8")}" on ${slot.token.serial}`);
  });
}

/** `wim keys delete KEY [--yes]`: the key pair (its public and private objects). */
export async function remove(g: Global, key: string, o: PinSources & { yes?: boolean }): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const h = await agent.openSession(true, slot.id);
    await login(agent, slot.id, h, CKU.USER, await userPin(o));
    const found = await named(agent, h, key);
    if (!found.length) throw new Failure(`no key ${key} (\`wim keys list --login\` lists them)`);
    const ids = new Set(found.map((k) => hex(k.attrs.get(CKA.ID))));
    if (ids.size > 1) throw new Failure(`${ids.size} keys are labelled ${key}: name one by its ID (${[...ids].join(", ")})`);
    const what = found.map((k) => keyJson(k.attrs)).map((k) => `${k.class} ${k.type} key ${k.id} "${k.label}"`).join(" and ");
    if (!o.yes && !(await confirmed(`delete the ${what} from ${slot.token.serial}? This cannot be undone. Type "yes"`, "yes"))) {
      throw new Failure("not confirmed: nothing deleted");
    }
    for (const k of found) await agent.destroyObject(h, k.handle);
    console.error(`deleted the ${what}`);
  });
}

/** A token public key as a Node KeyObject (SubjectPublicKeyInfo on export). */
export function publicKeyObject(a: Map<number, Uint8Array>): crypto.KeyObject {
  const kt = readUlong(a.get(CKA.KEY_TYPE) ?? new Uint8Array(8));
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  if (kt === CKK.RSA && a.has(CKA.MODULUS) && a.has(CKA.PUBLIC_EXPONENT)) {
    return crypto.createPublicKey({ key: { kty: "RSA", n: b64(a.get(CKA.MODULUS)!), e: b64(a.get(CKA.PUBLIC_EXPONENT)!) }, format: "jwk" });
  }
  const curve = a.has(CKA.EC_PARAMS) ? curveByParams(a.get(CKA.EC_PARAMS)!) : undefined;
  if (curve && a.has(CKA.EC_POINT)) {
    const q = rawPoint(curve, a.get(CKA.EC_POINT)!);
    if (curve.eddsa) return crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64(q) }, format: "jwk" });
    const s = (q.length - 1) / 2;
    if (q[0] !== 4) throw new Failure("the key's point is not uncompressed");
    return crypto.createPublicKey({ key: { kty: "EC", crv: curve.name, x: b64(q.subarray(1, 1 + s)), y: b64(q.subarray(1 + s)) }, format: "jwk" });
  }
  throw new Failure("the key's public attributes are incomplete");
}

/** Every public key object session `h` sees, as [handle, CKA_ID, SubjectPublicKeyInfo DER]. */
export async function publicKeys(agent: AgentClient, h: number): Promise<{ id: Uint8Array; label: string; spki: Buffer }[]> {
  const out = [];
  for (const handle of await agent.find(h, [{ type: CKA.CLASS, value: ulongValue(CKO.PUBLIC_KEY) }])) {
    const a = await agent.attributes(h, handle, [CKA.KEY_TYPE, CKA.ID, CKA.LABEL, CKA.MODULUS, CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS, CKA.EC_POINT]);
    try {
      out.push({ id: a.get(CKA.ID) ?? new Uint8Array(0), label: Buffer.from(a.get(CKA.LABEL) ?? []).toString("utf8"),
        spki: publicKeyObject(a).export({ type: "spki", format: "der" }) });
    } catch {
      // a key the command line cannot rebuild is skipped
    }
  }
  return out;
}

/** `wim keys export-public KEY [--out FILE]`: PEM SubjectPublicKeyInfo. */
export async function exportPublic(g: Global, key: string, o: { out?: string }): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const h = await agent.openSession(false, slot.id);
    const found = (await named(agent, h, key)).filter((k) => k.attrs.get(CKA.CLASS) && readUlong(k.attrs.get(CKA.CLASS)!) === CKO.PUBLIC_KEY);
    if (found.length !== 1) throw new Failure(found.length ? `${found.length} public keys match ${key}: name one by its ID` : `no public key ${key} (\`wim keys list\`)`);
    const a = await agent.attributes(h, found[0].handle, [CKA.KEY_TYPE, CKA.MODULUS, CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS, CKA.EC_POINT]);
    const pem = publicKeyObject(a).export({ type: "spki", format: "pem" }) as string;
    if (o.out) writeFileSync(o.out, pem);
    else process.stdout.write(pem);
  });
}
