/**
 * Helpers shared by the end-to-end tests with real client programs (OpenSSL + libp11, OpenSSH,
 * GnuTLS p11tool): running a program with an environment and a time limit, keys generated on the
 * token with pkcs11-tool, the token's mechanism list, public keys read back, a free loopback port.
 */
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { MODULE, type RunResult, type SimToken, p11 } from "./harness.js";

/** The user PIN that `wim sim` provisions on a new state directory. */
export const PIN = "123456";

/** Options of {@link exec}. */
export interface ExecOptions {
  /** Added to (or, with value undefined, removed from) the test process's environment. */
  env?: Record<string, string | undefined>;
  /** Written to the program's standard input, which is then closed (closed at once if absent). */
  input?: string;
  /** The program is killed after this many milliseconds (default 60 s); the result says so. */
  timeoutMs?: number;
  cwd?: string;
}

/** Runs a program; never throws on a non-zero exit. A program killed by the time limit gets code 124. */
export function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { env, cwd: opts.cwd, encoding: "latin1", maxBuffer: 1 << 24, timeout: opts.timeoutMs ?? 60_000, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        if (err && (err as { killed?: boolean }).killed) {
          resolve({ code: 124, stdout, stderr: `${stderr}\n[${cmd} killed after ${opts.timeoutMs ?? 60_000} ms]` });
          return;
        }
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
      });
    p.stdin!.on("error", () => {}); // EPIPE when the program exits without reading its input
    p.stdin!.end(opts.input ?? "");
  });
}

/** The text of a result, for assertion messages. */
export const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Whether a program is on the PATH (or an absolute path that exists and runs). */
export async function have(cmd: string): Promise<boolean> {
  const r = await exec("sh", ["-c", `command -v "$1" >/dev/null`, "sh", cmd], { timeoutMs: 5_000 });
  return r.code === 0;
}

/** A key pair to generate on the token. */
export interface KeySpec {
  /** CKA_ID in hex, e.g. "01". */
  id: string;
  /** pkcs11-tool's --key-type: "rsa:2048", "EC:prime256v1", "EC:secp384r1", "EC:edwards25519". */
  type: string;
  label: string;
}

/** The keys most client tests use: RSA-2048 with CKA_ID 01 and EC P-256 with CKA_ID 02. */
export const RSA_KEY: KeySpec = { id: "01", type: "rsa:2048", label: "rsa-key" };
export const EC_KEY: KeySpec = { id: "02", type: "EC:prime256v1", label: "ec-key" };

/** Generates key pairs on the token with pkcs11-tool; throws with pkcs11-tool's output on failure. */
export async function generateKeys(socket: string, ...keys: KeySpec[]): Promise<void> {
  for (const k of keys) {
    const r = await p11(socket, "--login", "--pin", PIN, "--keypairgen", "--key-type", k.type, "--id", k.id, "--label", k.label);
    if (r.code !== 0) throw new Error(`pkcs11-tool --keypairgen --key-type ${k.type} --id ${k.id} failed:\n${show(r)}`);
  }
}

/** DER length octets. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const EC_PUBLIC_KEY_OID = Buffer.from("06072a8648ce3d0201", "hex");

/** The contents of a DER OCTET STRING (CKA_EC_POINT is the point wrapped in one). */
function octetStringContents(d: Buffer): Buffer {
  if (d[0] !== 0x04) throw new Error(`CKA_EC_POINT is not an OCTET STRING: ${d.toString("hex")}`);
  let off = 2, len = d[1];
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | d[2 + i];
    off = 2 + n;
  }
  if (off + len !== d.length) throw new Error(`CKA_EC_POINT has a bad length: ${d.toString("hex")}`);
  return d.subarray(off);
}

/**
 * Reads the public key with this CKA_ID as DER SubjectPublicKeyInfo into `file`.
 * pkcs11-tool 0.23's --read-object cannot make an EVP_PKEY of a P-384 public key ("cannot create
 * EVP_PKEY", with SoftHSMv2 as well): for EC keys it fails on, the SPKI is built here from the
 * CKA_EC_PARAMS and CKA_EC_POINT that `pkcs11-tool --list-objects` prints.
 */
export async function readPublicKey(socket: string, id: string, file: string): Promise<void> {
  const r = await p11(socket, "--read-object", "--type", "pubkey", "--id", id, "-o", file);
  if (r.code === 0) return;
  // --list-objects lists every public key (0.23 ignores --id there): take the block with our ID.
  const list = await p11(socket, "--list-objects", "--type", "pubkey");
  const block = list.stdout.split(/^(?=Public Key Object)/m).find((b) => new RegExp(`^\\s*ID:\\s*${id}\\s*$`, "mi").test(b)) ?? "";
  const point = /EC_POINT:\s*([0-9a-f]+)/i.exec(block);
  const params = /EC_PARAMS:\s*([0-9a-f]+)/i.exec(block);
  if (list.code !== 0 || !point || !params) {
    throw new Error(`pkcs11-tool --read-object --type pubkey --id ${id} failed:\n${show(r)}\n${show(list)}`);
  }
  const algorithm = der(0x30, EC_PUBLIC_KEY_OID, Buffer.from(params[1], "hex"));
  const key = der(0x03, Buffer.from([0]), octetStringContents(Buffer.from(point[1], "hex")));
  writeFileSync(file, der(0x30, algorithm, key));
}

/** The token's mechanism list as pkcs11-tool -M prints it: mechanism name → its line. */
export async function mechanisms(socket: string): Promise<Map<string, string>> {
  const r = await p11(socket, "-M");
  if (r.code !== 0) throw new Error(`pkcs11-tool -M failed:\n${show(r)}`);
  const map = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^\s+([A-Za-z0-9_-]+)(?:,|$)/.exec(line);
    if (m) map.set(m[1], line.trim());
  }
  return map;
}

/** Whether the token lists CKM_EDDSA (pkcs11-tool prints it as EDDSA). */
export const hasEdDSA = (mechs: Map<string, string>) => mechs.has("EDDSA");

/** Whether the token generates EC keys of at least `bits` (the largest size of ECDSA-KEY-PAIR-GEN). */
export function hasEcSize(mechs: Map<string, string>, bits: number): boolean {
  const line = mechs.get("ECDSA-KEY-PAIR-GEN") ?? mechs.get("EC-KEY-PAIR-GEN");
  const m = line && /keySize=\{(\d+),(\d+)\}/.exec(line);
  return !!m && Number(m[2]) >= bits;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Stops the simulated token and removes the test's directories (kept when WIM_E2E_KEEP=1). */
export async function cleanUp(sim: SimToken | undefined, ...dirs: string[]): Promise<void> {
  if (sim) await sim.stop();
  if (process.env.WIM_E2E_KEEP === "1") return;
  for (const d of [...dirs, ...(sim ? [sim.state] : [])]) rmSync(d, { recursive: true, force: true });
}

export { MODULE };
