/**
 * The device's side of pairing (docs/channel.md): its channel key, the table of paired hosts, the
 * pairing window that a press of the button closes, and revocation (one host, all hosts, or a long
 * hold of the button).
 *
 * Store records (modules/wim/objects.ts keeps 1 and 2, objects start at 16; C_InitToken erases only
 * objects, so these survive it):
 *  - CHANNEL_KEY_RECORD (4): SECRET — the P-256 scalar (made in C by ecGenerate, never read back);
 *    PUBLIC — the key's attributes in template encoding: what the C core checks before it uses a
 *    scalar (CKA_CLASS private key, CKA_KEY_TYPE EC, CKA_EC_PARAMS P-256) and CKA_EC_POINT, the public
 *    key as it travels (65 bytes 0x04 ‖ x ‖ y, not DER-wrapped). Both in one transaction at first start.
 *  - PAIRED_RECORD (5): the paired hosts, one record rewritten whole in one transaction (a power cut
 *    leaves the old table or the new one): a count byte, then per host its 65-byte key, a length
 *    byte and its name in UTF-8.
 *
 * Only the number of paired hosts stays in RAM (the clear-mode gate asks for it on every command);
 * the table is read from the store when a handshake or a pairing needs it.
 */
import { CKA, CKK, CKO } from "../at/pkcs11.js";
import { encodeTemplate, ulongValue } from "../at/template.js";
import type { Env, Presence } from "./env.js";
import { CURVES } from "./curves.js";
import { attributeMap } from "./objects.js";
import { EC_CURVE } from "./native.js";
import { P256_PUBLIC } from "./noise.js";
import { wirePoint } from "./noise-device.js";

/** Store id of the device's channel key. */
export const CHANNEL_KEY_RECORD = 4;
/** Store id of the paired-hosts table. */
export const PAIRED_RECORD = 5;
/** Most paired hosts. */
export const MAX_HOSTS = 8;
/** Most characters of a host's name. */
export const MAX_NAME = 32;
/** How long a pairing window waits for the button. */
export const PAIR_WINDOW_MS = 30_000;
/** How long the button must be held to unpair every host. */
export const UNPAIR_HOLD_MS = 10_000;
/** The LED's half period while a window is open. */
const BLINK_MS = 250;
/** Store payload a rewrite of the table may take. */
const TABLE_RESERVE = 1 + MAX_HOSTS * (P256_PUBLIC + 1 + 4 * MAX_NAME);

/** A paired host. */
export interface Host {
  readonly key: Uint8Array;
  readonly name: string;
}

/** +PKCSPAIRC's states. */
export const PAIR_STATE = { WAITING: 0, PAIRED: 1, CLOSED: 2 } as const;
type PairState = (typeof PAIR_STATE)[keyof typeof PAIR_STATE];

/** Why a pairing request is refused (each answers +CME ERROR: 3). */
export class PairingRefused extends Error {}

interface Window {
  readonly key: Uint8Array;
  readonly name: string;
  state: PairState;
}

/** The table in its record form. */
export function encodeHosts(hosts: readonly Host[]): Uint8Array {
  const names = hosts.map((h) => new TextEncoder().encode(h.name));
  let size = 1;
  for (const n of names) size += P256_PUBLIC + 1 + n.length;
  const out = new Uint8Array(size);
  out[0] = hosts.length;
  let o = 1;
  hosts.forEach((h, i) => {
    out.set(h.key, o);
    out[o + P256_PUBLIC] = names[i].length;
    out.set(names[i], o + P256_PUBLIC + 1);
    o += P256_PUBLIC + 1 + names[i].length;
  });
  return out;
}

/** The table from its record; a malformed record reads as no hosts (never a crash). */
export function decodeHosts(raw: Uint8Array): Host[] {
  const out: Host[] = [];
  const count = raw.length ? raw[0] : 0;
  let o = 1;
  for (let i = 0; i < count && i < MAX_HOSTS; i++) {
    if (o + P256_PUBLIC + 1 > raw.length) return [];
    const len = raw[o + P256_PUBLIC];
    if (o + P256_PUBLIC + 1 + len > raw.length) return [];
    out.push({ key: raw.slice(o, o + P256_PUBLIC), name: new TextDecoder().decode(raw.subarray(o + P256_PUBLIC + 1, o + P256_PUBLIC + 1 + len)) });
    o += P256_PUBLIC + 1 + len;
  }
  return out;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** The device's pairing state. */
export class Pairing {
  /** The device's channel public key (public). */
  readonly publicKey: Uint8Array;
  private count: number;
  private window: Window | undefined;
  /** Called after hosts were removed (the firmware ends the secure sessions of hosts no longer paired). */
  onRemoved: () => void = () => {};

  constructor(private readonly env: Env) {
    this.publicKey = this.ensureKey();
    this.count = this.hosts().length;
    const presence = env.presence;
    presence?.onChange((pressed) => {
      if (pressed) void presence.held(UNPAIR_HOLD_MS).then((held) => held && this.removeAll("button held"));
    });
  }

  /** The channel key's public key; the key is made (in one transaction) if the store has none. */
  private ensureKey(): Uint8Array {
    const native = this.env.native;
    const stored = native.storeGet(CHANNEL_KEY_RECORD);
    const point = stored && attributeMap(new Uint8Array(stored))?.get(CKA.EC_POINT);
    if (point && point.length === P256_PUBLIC && point[0] === 4) return point.slice();
    native.storeBegin(256);
    try {
      const publicKey = wirePoint(native.ecGenerate(CHANNEL_KEY_RECORD, EC_CURVE.P256));
      const record = encodeTemplate([
        { type: CKA.CLASS, value: ulongValue(CKO.PRIVATE_KEY) },
        { type: CKA.KEY_TYPE, value: ulongValue(CKK.EC) },
        { type: CKA.EC_PARAMS, value: CURVES.find((c) => c.name === "P-256")!.params[0] },
        { type: CKA.EC_POINT, value: publicKey },
      ]);
      native.storePut(CHANNEL_KEY_RECORD, record.buffer as ArrayBuffer);
      native.storeCommit();
      this.env.log("pairing: made the device's channel key");
      return publicKey;
    } catch (e) {
      native.storeAbort();
      throw e;
    }
  }

  /** Number of paired hosts. */
  get paired(): number {
    return this.count;
  }

  /** The paired hosts, from the store. */
  hosts(): Host[] {
    const raw = this.env.native.storeGet(PAIRED_RECORD);
    return raw ? decodeHosts(new Uint8Array(raw)) : [];
  }

  /** True if `key` is a paired host's. */
  isPaired(key: Uint8Array): boolean {
    return this.hosts().some((h) => sameKey(h.key, key));
  }

  /** Rewrites the table whole, in one store transaction. */
  private save(hosts: readonly Host[]): void {
    const native = this.env.native;
    native.storeBegin(TABLE_RESERVE);
    try {
      native.storePut(PAIRED_RECORD, encodeHosts(hosts).buffer as ArrayBuffer);
      native.storeCommit();
    } catch (e) {
      native.storeAbort();
      throw e;
    }
    this.count = hosts.length;
  }

  /**
   * AT+PKCSPAIR: arms the window for `key` (already checked to be a P-256 point) and `name`; returns
   * the seconds it stays open. A second request while a window is open cancels both.
   */
  request(key: Uint8Array, name: string, transport: "serial" | "ble" | undefined): number {
    const presence = this.env.presence;
    if (transport !== "serial") throw new PairingRefused("pairing is accepted on the serial link only");
    if (!presence) throw new PairingRefused("no presence input to confirm a pairing");
    if (this.window?.state === PAIR_STATE.WAITING) {
      this.window.state = PAIR_STATE.CLOSED;
      throw new PairingRefused("a pairing window was already open: both cancelled");
    }
    if (this.count >= MAX_HOSTS && !this.isPaired(key)) throw new PairingRefused("the table of paired hosts is full");
    const w: Window = { key: key.slice(), name, state: PAIR_STATE.WAITING };
    this.window = w;
    void this.watch(w, presence);
    return PAIR_WINDOW_MS / 1000;
  }

  /** Blinks the LED and waits for a press, in steps of BLINK_MS, until the window closes. */
  private async watch(w: Window, presence: Presence): Promise<void> {
    const deadline = this.env.now() + PAIR_WINDOW_MS;
    let on = false;
    try {
      while (w.state === PAIR_STATE.WAITING) {
        const left = deadline - this.env.now();
        if (left <= 0) break;
        this.env.led?.((on = !on));
        if (await presence.wait(Math.min(BLINK_MS, left))) {
          if (w.state === PAIR_STATE.WAITING) this.complete(w);
          break;
        }
      }
    } finally {
      if (w.state === PAIR_STATE.WAITING) w.state = PAIR_STATE.CLOSED;
      this.env.led?.(false);
    }
  }

  /** The press came: stores the host (replacing its entry if it was paired) or closes the window. */
  private complete(w: Window): void {
    try {
      const hosts = this.hosts().filter((h) => !sameKey(h.key, w.key));
      if (hosts.length >= MAX_HOSTS) throw new PairingRefused("the table of paired hosts is full");
      hosts.push({ key: w.key, name: w.name });
      this.save(hosts);
      w.state = PAIR_STATE.PAIRED;
      this.env.log(`pairing: paired host "${w.name}"`);
    } catch (e) {
      w.state = PAIR_STATE.CLOSED;
      this.env.log("pairing: not stored: " + (e instanceof Error ? e.message : String(e)));
    }
  }

  /** AT+PKCSPAIRC: the window's state and, once paired, the device's channel key. */
  status(): [number, Uint8Array] {
    const state = this.window?.state ?? PAIR_STATE.CLOSED;
    return [state, state === PAIR_STATE.PAIRED ? this.publicKey : new Uint8Array(0)];
  }

  /** Removes one host; false if it was not paired. */
  remove(key: Uint8Array): boolean {
    const hosts = this.hosts();
    const kept = hosts.filter((h) => !sameKey(h.key, key));
    if (kept.length === hosts.length) return false;
    this.save(kept);
    this.onRemoved();
    return true;
  }

  /** Removes every host. */
  removeAll(why: string): void {
    for (const transport of this.env.transports) transport.forgetBonds?.(); // the radio's bonds go too
    if (this.count === 0) return; // nothing to write (a hold of the button on an unpaired device)
    this.save([]);
    this.env.log(`pairing: every host unpaired (${why})`);
    this.onRemoved();
  }
}
