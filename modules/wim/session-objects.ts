/**
 * Session objects (CKA_TOKEN false): kept in RAM until their session closes, charged against the
 * budgets of limits.ts — per object, per channel, and on the whole device with a reserve that only
 * logged-in channels may use. Past a budget the answer is CKR_DEVICE_MEMORY, long before the engine's
 * heap runs out. Handles are drawn from a per-boot counter that starts at a random point of the session
 * object range and only grows: a handle is never reused while the device runs (a stale one is
 * CKR_OBJECT_HANDLE_INVALID), and after a restart every session, and so every session object, is gone.
 */
import { CKR, PkcsError } from "../at/pkcs11.js";
import {
  type Budget, SESSION_OBJECTS, SESSION_OBJECTS_PER_CHANNEL, SESSION_OBJECTS_RESERVE, SESSION_OBJECT_MAX_BYTES, sessionObjectCost,
} from "./limits.js";
import { type AttributeMap, attributeMap, encodeAttributes } from "./objects.js";

/** Session object handles: [FIRST, END); token object handles are below FIRST. */
export const FIRST_SESSION_OBJECT = 0x40000000;
const END_SESSION_OBJECT = 0x80000000;

/**
 * One session object. Its attributes are kept encoded (one buffer: a few slots of the device's heap
 * instead of a map of arrays) and decoded per use, into a copy of their own.
 */
export class SessionObject {
  constructor(
    private readonly bytes: Uint8Array,
    /** A session secret key's sensitive value (token objects keep theirs in a SECRET record). */
    readonly secret: Uint8Array | undefined,
    readonly session: number,
    readonly channel: number,
    /** What it is charged (sessionObjectCost). */
    readonly cost: number,
  ) {}

  get attrs(): AttributeMap {
    return attributeMap(this.bytes.slice())!;
  }
}

/** What a new or changed session object asks for. */
export interface SessionObjectRequest {
  readonly attrs: AttributeMap;
  readonly secret?: Uint8Array;
  readonly session: number;
  readonly channel: number;
}

interface Usage {
  bytes: number;
  count: number;
}

/** The device's session objects and their accounting. */
export class SessionObjects {
  private readonly objects = new Map<number, SessionObject>();
  private next: number;

  /** `random` seeds the start of the handle counter. */
  constructor(random: (b: Uint8Array) => void) {
    const r = new Uint8Array(4);
    random(r);
    // a random start in the first quarter of the range leaves at least 3 * 2^28 handles to hand out
    this.next = FIRST_SESSION_OBJECT + (((r[0] | (r[1] << 8) | (r[2] << 16) | (r[3] << 24)) >>> 0) % (FIRST_SESSION_OBJECT / 4));
  }

  /** The session object `h`, or undefined. */
  get(h: number): SessionObject | undefined {
    return this.objects.get(h);
  }

  /** Every session object handle. */
  handles(): number[] {
    return [...this.objects.keys()];
  }

  /**
   * Adds an object if the budgets allow it (`loggedIn`: the channel may use the reserve); returns its
   * handle. CKR_DEVICE_MEMORY otherwise.
   */
  add(o: SessionObjectRequest, loggedIn: boolean): number {
    const cost = sessionObjectCost(o.attrs, o.secret);
    this.check(o.channel, cost, 1, loggedIn);
    if (this.next >= END_SESSION_OBJECT) throw new PkcsError(CKR.DEVICE_MEMORY, "session object handles used up");
    const h = this.next++;
    this.objects.set(h, new SessionObject(encodeAttributes(o.attrs), o.secret, o.session, o.channel, cost));
    return h;
  }

  /** Replaces the attributes of object `h` (C_SetAttributeValue), if the budgets allow its new size. */
  update(h: number, attrs: AttributeMap, loggedIn: boolean): void {
    const o = this.objects.get(h)!;
    const cost = sessionObjectCost(attrs, o.secret);
    this.check(o.channel, cost - o.cost, 0, loggedIn, cost);
    this.objects.set(h, new SessionObject(encodeAttributes(attrs), o.secret, o.session, o.channel, cost));
  }

  /** Removes object `h`; false if it is not a session object. */
  delete(h: number): boolean {
    return this.objects.delete(h);
  }

  /** Removes the objects of session `s`. */
  dropSession(s: number): void {
    for (const [h, o] of [...this.objects]) if (o.session === s) this.objects.delete(h);
  }

  /** What the channel `ch` (or, without it, the whole device) holds. */
  usage(ch?: number): Usage {
    const u = { bytes: 0, count: 0 };
    for (const o of this.objects.values()) {
      if (ch !== undefined && o.channel !== ch) continue;
      u.bytes += o.cost;
      u.count++;
    }
    return u;
  }

  /** CKR_DEVICE_MEMORY unless `bytes` and `count` more fit channel `ch`'s share and the device's total. */
  private check(ch: number, bytes: number, count: number, loggedIn: boolean, size = bytes): void {
    if (size > SESSION_OBJECT_MAX_BYTES) throw new PkcsError(CKR.DEVICE_MEMORY, "session object too large");
    const total = loggedIn ? SESSION_OBJECTS : less(SESSION_OBJECTS, SESSION_OBJECTS_RESERVE);
    if (!fits(this.usage(ch), bytes, count, SESSION_OBJECTS_PER_CHANNEL)) throw new PkcsError(CKR.DEVICE_MEMORY, "the application's session objects are at their limit");
    if (!fits(this.usage(), bytes, count, total)) throw new PkcsError(CKR.DEVICE_MEMORY, "the device's session objects are at their limit");
  }
}

function fits(u: Usage, bytes: number, count: number, b: Budget): boolean {
  return (bytes <= 0 || u.bytes + bytes <= b.bytes) && (count <= 0 || u.count + count <= b.count);
}

function less(a: Budget, b: Budget): Budget {
  return { bytes: a.bytes - b.bytes, count: a.count - b.count };
}
