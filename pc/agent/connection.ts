/**
 * One module connection (one application's PKCS#11 module in one process) as the agent serves it
 * (server.ts wraps it as a Connection, the call table's dispatch):
 * its session handles across the agent's devices, and the slot calls. Each device the application
 * uses gets a TokenView (its logical channel on that device, opened on first use); the application's
 * session handles are the connection's own, mapped to a view and the device's handle.
 *
 * A device that goes away (registry.ts) leaves its sessions in place until the application closes
 * them: every call on one answers CKR_DEVICE_REMOVED, C_CloseSession and C_CloseAllSessions drop
 * them (then CKR_SESSION_HANDLE_INVALID). The same device back gets a new view: new sessions only.
 */
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { latin1 } from "./arguments.js";
import type { Device } from "./device.js";
import type { Registry, Slot } from "./registry.js";
import { handleList } from "./replies.js";
import { mechanismInfo, mechanismList, slotInfo, tokenInfo } from "./slot-info.js";
import { tokenStatus } from "./status.js";
import { TokenView } from "./token-view.js";
import type { RpcOutput, Writer } from "./wire.js";

/** CKR_NO_EVENT: C_WaitForSlotEvent with CKF_DONT_BLOCK and no event. */
const NO_EVENT = 0x8;

/** One session handle of the connection: the view it is on and the device's handle. */
interface Handle {
  view: TokenView;
  h: number;
}

/**
 * A pairing request's failure as a CK_RV: the device refused it (+CME ERROR: pairing over BLE, the
 * table full, no channel to unpair in) CKR_FUNCTION_FAILED; a link that failed CKR_DEVICE_ERROR.
 */
function rpcError(e: unknown): never {
  if (e instanceof PkcsError) throw e;
  const message = e instanceof Error ? e.message : String(e);
  console.error(`agent: ${message}`);
  throw new PkcsError(/CME ERROR|no secure channel/.test(message) ? CKR.FUNCTION_FAILED : CKR.DEVICE_ERROR, message);
}

export class ModuleConnection {
  /** The view of each slot's current attachment this application used. */
  private readonly views = new Map<number, TokenView>();
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  /** Aborted when the application goes away (ends a C_WaitForSlotEvent). */
  private readonly gone = new AbortController();

  constructor(private readonly registry: Registry) {}

  private slot(id: number): Slot {
    const slot = this.registry.slot(id);
    if (!slot) throw new PkcsError(CKR.SLOT_ID_INVALID);
    return slot;
  }

  /** The application's view of the token in slot `id` (CKR_TOKEN_NOT_PRESENT while it is away). */
  private view(id: number): TokenView {
    const device = this.slot(id).device;
    if (!device) throw new PkcsError(CKR.TOKEN_NOT_PRESENT);
    let v = this.views.get(id);
    if (!v || v.device !== device) {
      v = new TokenView(device, id);
      this.views.set(id, v);
    }
    return v;
  }

  /**
   * Runs a call on session `h`: `fn` gets the view and the device's handle. A session of a device
   * that went away answers CKR_DEVICE_REMOVED; one the device forgot (it restarted) is dropped.
   */
  async inSession(h: number, fn: (v: TokenView, h: number) => Promise<number>): Promise<number> {
    const entry = this.handles.get(h);
    if (!entry) return CKR.SESSION_HANDLE_INVALID;
    if (entry.view.device.gone) return CKR.DEVICE_REMOVED;
    try {
      return await fn(entry.view, entry.h);
    } catch (e) {
      if (entry.view.device.gone) return CKR.DEVICE_REMOVED;
      if (e instanceof PkcsError && e.rv === CKR.SESSION_HANDLE_INVALID) this.handles.delete(h);
      throw e;
    }
  }

  /** The slot's token as a device, for slot calls (CKR_SLOT_ID_INVALID, CKR_TOKEN_NOT_PRESENT). */
  private device(id: number): Device {
    const device = this.slot(id).device;
    if (!device) throw new PkcsError(CKR.TOKEN_NOT_PRESENT);
    return device;
  }

  async getSlotList(present: number, out: RpcOutput, w: Writer): Promise<number> {
    return handleList(w, out, this.registry.list(present !== 0).map((s) => s.id));
  }

  async getSlotInfo(id: number, w: Writer): Promise<number> {
    return slotInfo(this.slot(id), w);
  }

  getTokenInfo(id: number, w: Writer): Promise<number> {
    const device = this.device(id);
    return this.removable(device, () => tokenInfo(device, w));
  }

  /** WIM_GetTokenStatus (`wim info`; status.ts). */
  getTokenStatus(id: number, w: Writer): Promise<number> {
    const slot = this.slot(id);
    return this.removable(this.device(id), () => tokenStatus(slot, w));
  }

  async getMechanismList(id: number, out: RpcOutput, w: Writer): Promise<number> {
    return mechanismList(this.device(id), out, w);
  }

  async getMechanismInfo(id: number, type: number, w: Writer): Promise<number> {
    return mechanismInfo(this.device(id), type, w);
  }

  /** A slot call's device going away under it answers CKR_DEVICE_REMOVED. */
  private async removable(device: Device, fn: () => Promise<number>): Promise<number> {
    try {
      return await fn();
    } catch (e) {
      if (device.gone) return CKR.DEVICE_REMOVED;
      throw e;
    }
  }

  async initToken(id: number, pin: Uint8Array | null, label: Uint8Array | null): Promise<number> {
    const v = this.view(id);
    if (v.hasSessions) return CKR.SESSION_EXISTS;
    return this.removable(v.device, () => v.initToken(pin, label));
  }

  async openSession(id: number, flags: number, w: Writer): Promise<number> {
    const v = this.view(id);
    const h = await this.removable(v.device, () => v.openSession(flags));
    const handle = this.nextHandle++;
    this.handles.set(handle, { view: v, h });
    w.u64(handle);
    return CKR.OK;
  }

  async closeSession(h: number): Promise<number> {
    const entry = this.handles.get(h);
    const rv = await this.inSession(h, (v, dh) => v.closeSession(dh));
    if (entry && (rv === CKR.OK || rv === CKR.DEVICE_REMOVED)) this.handles.delete(h);
    return rv === CKR.DEVICE_REMOVED ? CKR.OK : rv;
  }

  async closeAllSessions(id: number): Promise<number> {
    const slot = this.slot(id);
    for (const [h, e] of this.handles) if (e.view.slotId === id && e.view.device !== slot.device) this.handles.delete(h);
    if (!slot.device) return CKR.OK;
    const v = this.view(id);
    for (const [h, e] of this.handles) if (e.view === v) this.handles.delete(h);
    return this.removable(v.device, () => v.closeAllSessions());
  }

  /** The one attached device an agent request without a slot is for (CKR_TOKEN_NOT_PRESENT, or
   * CKR_FUNCTION_FAILED with several: the request names none). */
  private only(): TokenView {
    const present = this.registry.present();
    if (present.length === 0) throw new PkcsError(CKR.TOKEN_NOT_PRESENT);
    if (present.length > 1) throw new PkcsError(CKR.FUNCTION_FAILED, "several devices attached: the request names none");
    return this.view(present[0].id);
  }

  /** `wim pair`, step 1 (agent request `pair`): arms the device's pairing window; its seconds. */
  async pair(name: Uint8Array | null, w: Writer): Promise<number> {
    w.u64(await this.only().device.pairStart(latin1(name)).catch(rpcError));
    return CKR.OK;
  }

  /** `wim pair`, step 2 (agent request `pair-status`, every 250 ms): 0 waiting, 1 paired, 2 expired. */
  async pairStatus(w: Writer): Promise<number> {
    w.u64(await this.only().device.pairPoll().catch(rpcError));
    return CKR.OK;
  }

  /** `wim unpair` (agent request `unpair`). */
  async unpair(): Promise<number> {
    await this.only().device.unpair().catch(rpcError);
    return CKR.OK;
  }

  /** The device identity certificate (DER): the agent's request WIM_GetIdentityCertificate. */
  identityCertificate(w: Writer): Promise<number> {
    return this.only().identityCertificate(w);
  }

  /** Replaces the identity certificate (WIM_SetIdentityCertificate): the SO logged in on session `h`. */
  setIdentityCertificate(h: number, der: Uint8Array | null): Promise<number> {
    return this.inSession(h, (v, dh) => v.setIdentityCertificate(dh, der));
  }

  /**
   * C_WaitForSlotEvent (agent request WIM_WaitForSlotEvent): the first slot event after event `after`
   * and not before `sinceMs` (the application's C_Initialize); with `block` 0 CKR_NO_EVENT when there
   * is none, else the reply waits for one (the module asks on a connection of its own).
   */
  async waitForSlotEvent(after: number, sinceMs: number, block: number, w: Writer): Promise<number> {
    const e = block ? await this.registry.waitEvent(after, sinceMs, this.gone.signal) : this.registry.nextEvent(after, sinceMs);
    if (!e) return NO_EVENT;
    w.u64(e.slot).u64(e.seq);
    return CKR.OK;
  }

  /** The application went away: a long command of its own (a key generation) is cancelled at once. */
  abandon(): void {
    this.gone.abort();
    for (const v of this.allViews()) if (!v.device.gone) v.abandon();
  }

  /** Closes the application's channels and with them every session (the client went away). */
  async closeAll(): Promise<void> {
    const views = this.allViews();
    this.handles.clear();
    this.views.clear();
    for (const v of views) if (!v.device.gone) await v.closeAll();
  }

  private allViews(): Set<TokenView> {
    return new Set([...this.views.values(), ...[...this.handles.values()].map((e) => e.view)]);
  }
}
