/**
 * The operation state machines of one application's sessions: sign and verify (single-part and
 * multi-part, hashing on the PC), decrypt (on the device) and encrypt (on the PC), and digest.
 * The agent keeps operation state and prepares data; the device holds the keys and does the
 * private-key work in one round trip per operation.
 */
import { CKA, CKF, CKK, CKM, CKO, CKR, PkcsError } from "../../modules/at/pkcs11.js";
import type { Value } from "../../modules/at/codec.js";
import { readBool, readUlong } from "../../modules/at/template.js";
import { curveByParams } from "../../modules/wim/curves.js";
import crypto from "node:crypto";
import type { DeviceMechanism } from "./device.js";
import type { KeyCache } from "./key-cache.js";
import { CIPHER_MECHANISMS, HASHES, SIGN_MECHANISMS, type SignMechanism, tokenMechanisms } from "./mechanisms.js";
import { type PublicKey, encrypt, publicKey, verify } from "./publickey.js";
import { deliver, sizeOnly } from "./replies.js";
import type { RpcMechanism, RpcOutput, Writer } from "./wire.js";

/** C_SignInit / C_VerifyInit state: the mechanism, key, and the data or running hash so far. */
export interface SignOperation {
  m: SignMechanism;
  key: number;
  parameter: Uint8Array;
  size: number;
  hash?: crypto.Hash;
  parts: Buffer[];
  publicKey?: PublicKey;
}

/** C_DecryptInit / C_EncryptInit state; a decryption's result is kept for a too-small buffer's retry. */
export interface CipherOperation {
  mechanism: number;
  key: number;
  parameter: Uint8Array;
  size: number;
  result?: Uint8Array;
  publicKey?: PublicKey;
}

/** One session as the agent mirrors it: its flags and running operations. */
export interface Session {
  flags: number;
  find?: number[];
  sign?: SignOperation;
  verify?: SignOperation;
  decrypt?: CipherOperation;
  encrypt?: CipherOperation;
  digest?: crypto.Hash & { size?: number };
}

/** CKA_ALLOWED_MECHANISMS (8-byte types) permits exactly `type`; no list permits all. */
function allowed(list: Uint8Array | undefined, type: number): boolean {
  if (!list || list.length === 0) return true;
  for (let o = 0; o + 8 <= list.length; o += 8) if (Number(Buffer.from(list).readBigUInt64LE(o)) === type) return true;
  return false;
}

/** What the operations need of the session mirror they run in (TokenView). */
export interface OperationHost {
  /** The session `h` (CKR_SESSION_HANDLE_INVALID if none). */
  session(h: number): Session;
  /** The device handle of a session. */
  handleOf(s: Session): number;
  /** Runs a device command on the application's channel. */
  run(name: string, values: Value[]): Promise<Value[][]>;
  readonly keys: KeyCache;
  mechanisms(): DeviceMechanism[];
}

export class Operations {
  constructor(private readonly host: OperationHost) {}

  /** The mechanism `type` if the token offers it with `flag`. */
  offered(type: number, flag: number): boolean {
    return tokenMechanisms(this.host.mechanisms()).some((x) => x.type === type && (x.flags & flag) !== 0);
  }

  /** Starts a sign or verify operation: the checks of SoftHSM's order, the key read once. */
  private async startSign(h: number, m: RpcMechanism, key: number, verifying: boolean): Promise<SignOperation> {
    const mech = SIGN_MECHANISMS.find((x) => x.type === m.type);
    if (!mech || !this.offered(m.type, verifying ? CKF.VERIFY : CKF.SIGN)) throw new PkcsError(CKR.MECHANISM_INVALID);
    if (mech.base !== CKM.RSA_PKCS_PSS && mech.base !== CKM.EDDSA && m.parameter.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    if (mech.base === CKM.RSA_PKCS_PSS && m.parameter.length !== 24) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    if (mech.base === CKM.RSA_PKCS_PSS && mech.hash && Number(Buffer.from(m.parameter).readBigUInt64LE(0)) !== mech.hash.mechanism) {
      throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    }
    const attrs = await this.host.keys.get(h, key, [CKA.CLASS, CKA.KEY_TYPE, verifying ? CKA.VERIFY : CKA.SIGN, CKA.MODULUS,
      CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS, CKA.EC_POINT, CKA.ALLOWED_MECHANISMS]);
    if (!allowed(attrs.get(CKA.ALLOWED_MECHANISMS), m.type)) throw new PkcsError(CKR.MECHANISM_INVALID);
    const cls = readUlong(attrs.get(CKA.CLASS)!);
    if (verifying ? cls !== CKO.PUBLIC_KEY : cls !== CKO.PRIVATE_KEY) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readUlong(attrs.get(CKA.KEY_TYPE)!) !== mech.keyType) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readBool(attrs.get(verifying ? CKA.VERIFY : CKA.SIGN) ?? new Uint8Array(0)) !== true) throw new PkcsError(CKR.KEY_FUNCTION_NOT_PERMITTED);
    const curve = attrs.get(CKA.EC_PARAMS) && curveByParams(attrs.get(CKA.EC_PARAMS)!);
    if (mech.keyType !== CKK.RSA && !curve) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    const size = mech.keyType === CKK.RSA ? attrs.get(CKA.MODULUS)!.length : curve!.signatureSize;
    return {
      m: mech, key, parameter: m.parameter, size, parts: [],
      hash: mech.hash && crypto.createHash(mech.hash.node),
      publicKey: verifying ? publicKey(attrs) : undefined,
    };
  }

  /** Starts an operation of `kind` on a session that has none running (CKR_OPERATION_ACTIVE otherwise). */
  private async begin<K extends "sign" | "verify" | "decrypt" | "encrypt">(h: number, kind: K,
    start: () => Promise<NonNullable<Session[K]>>): Promise<number> {
    const s = this.host.session(h);
    if (s[kind]) return CKR.OPERATION_ACTIVE;
    s[kind] = await start();
    return CKR.OK;
  }

  /**
   * The session and its running operation of `kind` (CKR_OPERATION_NOT_INITIALIZED if there is none).
   * An `input` given as null ends the operation with CKR_ARGUMENTS_BAD: a failed call ends it, as the spec says.
   * The third element is the input (empty when none was given).
   */
  private operation<K extends "sign" | "verify" | "decrypt" | "encrypt" | "digest">(h: number, kind: K,
    input?: Uint8Array | null): [Session, NonNullable<Session[K]>, Uint8Array] {
    const s = this.host.session(h);
    const op = s[kind];
    if (!op) throw new PkcsError(CKR.OPERATION_NOT_INITIALIZED);
    if (input === null) {
      s[kind] = undefined;
      throw new PkcsError(CKR.ARGUMENTS_BAD);
    }
    return [s, op as NonNullable<Session[K]>, input ?? new Uint8Array(0)];
  }

  /** The input of the device operation: the digest (in a DigestInfo for PKCS#1 v1.5), or the data. */
  private static prepared(op: SignOperation): Uint8Array {
    if (!op.hash) return Buffer.concat(op.parts);
    const digest = op.hash.digest();
    return op.m.digestInfo ? Buffer.concat([op.m.hash!.digestInfo, digest]) : digest;
  }

  signInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "sign", () => this.startSign(h, m, key, false));
  }

  async sign(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op, input] = this.operation(h, "sign", data);
    const early = sizeOnly(w, out, op.size); // the operation stays active
    if (early !== undefined) return early;
    return this.finishSign(s, op, input, w, out);
  }

  async signUpdate(h: number, data: Uint8Array | null): Promise<number> {
    const [, op, input] = this.operation(h, "sign", data);
    if (op.hash) op.hash.update(input);
    else op.parts.push(Buffer.from(input));
    return CKR.OK;
  }

  async signFinal(h: number, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op] = this.operation(h, "sign");
    const early = sizeOnly(w, out, op.size);
    if (early !== undefined) return early;
    return this.finishSign(s, op, null, w, out);
  }

  /** One device round trip: +PKCSSIGN with the prepared input; the operation ends whatever happens. */
  private async finishSign(s: Session, op: SignOperation, data: Uint8Array | null, w: Writer, out: RpcOutput): Promise<number> {
    s.sign = undefined;
    if (data) {
      if (op.hash) op.hash.update(data);
      else op.parts.push(Buffer.from(data));
    }
    const input = Operations.prepared(op);
    const param = op.parameter.length ? [op.parameter] : [];
    const [[sig]] = await this.host.run("+PKCSSIGN", [this.host.handleOf(s), op.key, op.m.base, input, ...param]);
    return deliver(w, out, sig as Uint8Array);
  }

  verifyInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "verify", () => this.startSign(h, m, key, true));
  }

  async verify(h: number, data: Uint8Array | null, sig: Uint8Array | null): Promise<number> {
    const [s, op] = this.operation(h, "verify");
    s.verify = undefined;
    if (!data || !sig) return CKR.ARGUMENTS_BAD;
    verify(op.m, op.publicKey!, op.parameter, data, sig);
    return CKR.OK;
  }

  async verifyUpdate(h: number, data: Uint8Array | null): Promise<number> {
    const [, op, input] = this.operation(h, "verify", data);
    op.parts.push(Buffer.from(input));
    return CKR.OK;
  }

  async verifyFinal(h: number, sig: Uint8Array | null): Promise<number> {
    const [s, op] = this.operation(h, "verify");
    s.verify = undefined;
    if (!sig) return CKR.ARGUMENTS_BAD;
    verify(op.m, op.publicKey!, op.parameter, Buffer.concat(op.parts), sig);
    return CKR.OK;
  }

  async digestInit(h: number, m: RpcMechanism): Promise<number> {
    const s = this.host.session(h);
    if (s.digest) return CKR.OPERATION_ACTIVE;
    const hash = HASHES.find((x) => x.mechanism === m.type);
    if (!hash) return CKR.MECHANISM_INVALID;
    if (m.parameter.length) return CKR.MECHANISM_PARAM_INVALID;
    s.digest = Object.assign(crypto.createHash(hash.node), { size: hash.size });
    return CKR.OK;
  }

  async digest(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, d] = this.operation(h, "digest");
    const early = sizeOnly(w, out, d.size!);
    if (early !== undefined) return early;
    s.digest = undefined;
    if (!data) return CKR.ARGUMENTS_BAD;
    return deliver(w, out, d.update(data).digest());
  }

  async digestUpdate(h: number, data: Uint8Array | null): Promise<number> {
    const [, d, input] = this.operation(h, "digest", data);
    d.update(input);
    return CKR.OK;
  }

  async digestFinal(h: number, out: RpcOutput, w: Writer): Promise<number> {
    const [s, d] = this.operation(h, "digest");
    const early = sizeOnly(w, out, d.size!);
    if (early !== undefined) return early;
    s.digest = undefined;
    return deliver(w, out, d.digest());
  }

  /** Starts an RSA decryption (device) or encryption (PC) operation. */
  private async startCipher(h: number, m: RpcMechanism, key: number, decrypting: boolean): Promise<CipherOperation> {
    if (!CIPHER_MECHANISMS.includes(m.type) || !this.offered(m.type, decrypting ? CKF.DECRYPT : CKF.ENCRYPT)) throw new PkcsError(CKR.MECHANISM_INVALID);
    if (m.type !== CKM.RSA_PKCS_OAEP && m.parameter.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    const attrs = await this.host.keys.get(h, key, [CKA.CLASS, CKA.KEY_TYPE, decrypting ? CKA.DECRYPT : CKA.ENCRYPT, CKA.MODULUS,
      CKA.PUBLIC_EXPONENT, CKA.ALLOWED_MECHANISMS]);
    if (!allowed(attrs.get(CKA.ALLOWED_MECHANISMS), m.type)) throw new PkcsError(CKR.MECHANISM_INVALID);
    const cls = readUlong(attrs.get(CKA.CLASS)!);
    if (decrypting ? cls !== CKO.PRIVATE_KEY : cls !== CKO.PUBLIC_KEY) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readUlong(attrs.get(CKA.KEY_TYPE)!) !== CKK.RSA) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readBool(attrs.get(decrypting ? CKA.DECRYPT : CKA.ENCRYPT) ?? new Uint8Array(0)) !== true) throw new PkcsError(CKR.KEY_FUNCTION_NOT_PERMITTED);
    const size = attrs.get(CKA.MODULUS)!.length;
    return { mechanism: m.type, key, parameter: m.parameter, size, publicKey: decrypting ? undefined : publicKey(attrs) };
  }

  decryptInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "decrypt", () => this.startCipher(h, m, key, true));
  }

  /** C_Decrypt: the size query answers the modulus size (an upper bound); the result is kept for a retry. */
  async decrypt(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op, input] = this.operation(h, "decrypt", data);
    if (!out.hasBuffer && !op.result) {
      w.output(op.size, new Uint8Array(0));
      return CKR.OK;
    }
    if (!op.result) {
      try {
        const param = op.mechanism === CKM.RSA_PKCS_OAEP ? [op.parameter] : [];
        const [[plain]] = await this.host.run("+PKCSDECRYPT", [this.host.handleOf(s), op.key, op.mechanism, input, ...param]);
        op.result = plain as Uint8Array;
      } catch (e) {
        s.decrypt = undefined;
        throw e;
      }
    }
    const result = op.result!;
    if (!out.hasBuffer || out.capacity < result.length) {
      w.output(result.length, new Uint8Array(0));
      return out.hasBuffer ? CKR.BUFFER_TOO_SMALL : CKR.OK;
    }
    s.decrypt = undefined;
    return deliver(w, out, result);
  }

  encryptInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "encrypt", () => this.startCipher(h, m, key, false));
  }

  async encrypt(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op] = this.operation(h, "encrypt");
    const early = sizeOnly(w, out, op.size);
    if (early !== undefined) return early;
    s.encrypt = undefined;
    if (!data) return CKR.ARGUMENTS_BAD;
    return deliver(w, out, encrypt(op.mechanism, op.publicKey!, op.parameter, data));
  }

}
