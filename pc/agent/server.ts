/**
 * The agent's unix-socket server: one Connection (a ModuleConnection) per module connection; requests are
 * decoded and replies checked by the call table (functions.ts, codec.ts), run in order, and answered
 * (docs/agent-rpc.md).
 */
import net from "node:net";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { carriesItems, decodeArgs, decodeReply, type RequestArg } from "./codec.js";
import { ModuleConnection } from "./connection.js";
import { Device } from "./device.js";
import type { Operations } from "./operations.js";
import { Registry } from "./registry.js";
import type { TokenView } from "./token-view.js";
import { type CallName, type CallSpec, callByNumber, RPC_VERSION } from "./functions.js";
import { activatedSocket } from "./activation.js";
import { AgentRunningError, type BoundSocket, boundSocket, claimSocket, releaseSocket } from "./socket.js";
import { MAX_REQUEST, Reader, WireError, Writer } from "./wire.js";

type Handler = (c: ModuleConnection, args: any[], w: Writer) => Promise<number>;
/** A call on a session: its view (token-view.ts) and the device's handle. */
type SessionCall = (v: TokenView, args: any[], w: Writer) => Promise<number>;
const S = (f: SessionCall): Handler => (c, [h, ...rest], w) => c.inSession(h, (v, dh) => f(v, [dh, ...rest], w));
/** A call on a session's running operation (operations.ts). */
const O = (f: (ops: Operations, args: any[], w: Writer) => Promise<number>): Handler => S((v, args, w) => f(v.operations, args, w));

/** What the agent implements, by call name (the rest answer CKR_FUNCTION_NOT_SUPPORTED). */
const HANDLERS: Partial<Record<CallName, Handler>> = {
  C_GetSlotList: (c, [present, out], w) => c.getSlotList(present, out, w),
  C_GetSlotInfo: (c, [slot], w) => c.getSlotInfo(slot, w),
  C_GetTokenInfo: (c, [slot], w) => c.getTokenInfo(slot, w),
  C_GetMechanismList: (c, [slot, out], w) => c.getMechanismList(slot, out, w),
  C_GetMechanismInfo: (c, [slot, type], w) => c.getMechanismInfo(slot, type, w),
  C_InitToken: (c, [slot, pin, label]) => c.initToken(slot, pin, label),
  C_OpenSession: (c, [slot, flags], w) => c.openSession(slot, flags, w),
  C_CloseSession: (c, [h]) => c.closeSession(h),
  C_CloseAllSessions: (c, [slot]) => c.closeAllSessions(slot),
  C_InitPIN: S((v, [h, pin]) => v.initPin(h, pin)),
  C_GetSessionInfo: S((v, [h], w) => v.getSessionInfo(h, w)),
  C_Login: S((v, [h, type, pin]) => v.login(h, type, pin)),
  C_Logout: S((v, [h]) => v.logout(h)),
  C_SetPIN: S((v, [h, oldPin, newPin]) => v.setPin(h, oldPin, newPin)),
  C_CreateObject: S((v, [h, t], w) => v.createObject(h, t, w)),
  C_CopyObject: S((v, [h, o, t], w) => v.copyObject(h, o, t, w)),
  C_DestroyObject: S((v, [h, o]) => v.destroyObject(h, o)),
  C_SetAttributeValue: S((v, [h, o, t]) => v.setAttributeValue(h, o, t)),
  C_GetObjectSize: S((v, [h, o], w) => v.getObjectSize(h, o, w)),
  C_GetAttributeValue: S((v, [h, o, q], w) => v.getAttributeValue(h, o, q, w)),
  C_FindObjectsInit: S((v, [h, t]) => v.findObjectsInit(h, t)),
  C_FindObjects: S((v, [h, max], w) => v.findObjects(h, max, w)),
  C_FindObjectsFinal: S((v, [h]) => v.findObjectsFinal(h)),
  C_DeriveKey: S((v, [h, m, base, t], w) => v.deriveKey(h, m, base, t, w)),
  C_GenerateKeyPair: S((v, [h, m, pub, priv], w) => v.generateKeyPair(h, m, pub, priv, w)),
  C_GenerateRandom: S((v, [h, len], w) => v.generateRandom(h, len, w)),
  C_SignInit: O((o, [h, m, key]) => o.signInit(h, m, key)),
  C_Sign: O((o, [h, data, out], w) => o.sign(h, data, out, w)),
  C_SignUpdate: O((o, [h, data]) => o.signUpdate(h, data)),
  C_SignFinal: O((o, [h, out], w) => o.signFinal(h, out, w)),
  C_VerifyInit: O((o, [h, m, key]) => o.verifyInit(h, m, key)),
  C_Verify: O((o, [h, data, sig]) => o.verify(h, data, sig)),
  C_VerifyUpdate: O((o, [h, data]) => o.verifyUpdate(h, data)),
  C_VerifyFinal: O((o, [h, sig]) => o.verifyFinal(h, sig)),
  C_DigestInit: O((o, [h, m]) => o.digestInit(h, m)),
  C_Digest: O((o, [h, data, out], w) => o.digest(h, data, out, w)),
  C_DigestUpdate: O((o, [h, data]) => o.digestUpdate(h, data)),
  C_DigestFinal: O((o, [h, out], w) => o.digestFinal(h, out, w)),
  C_DecryptInit: O((o, [h, m, key]) => o.decryptInit(h, m, key)),
  C_Decrypt: O((o, [h, data, out], w) => o.decrypt(h, data, out, w)),
  C_EncryptInit: O((o, [h, m, key]) => o.encryptInit(h, m, key)),
  C_Encrypt: O((o, [h, data, out], w) => o.encrypt(h, data, out, w)),
  // the agent's own requests (docs/agent-rpc.md, "Agent requests")
  pair: (c, [name], w) => c.pair(name, w),
  "pair-status": (c, _args, w) => c.pairStatus(w),
  unpair: (c) => c.unpair(),
  WIM_GetIdentityCertificate: (c, _args, w) => c.identityCertificate(w),
  WIM_SetIdentityCertificate: (c, [h, der]) => c.setIdentityCertificate(h, der),
  WIM_WaitForSlotEvent: (c, [after, since, block], w) => c.waitForSlotEvent(after, since, block, w),
  WIM_GetTokenStatus: (c, [slot], w) => c.getTokenStatus(slot, w),
};

/** The calls a ModuleConnection answers (test/pc/rpc-schema.test.ts: every agent request of the table has a handler). */
export const HANDLED_CALLS = Object.keys(HANDLERS) as CallName[];

/** Runs one call, its arguments decoded by the table: returns its CK_RV, its reply items written to `w`. */
export type Dispatch = (call: CallSpec, args: RequestArg[], w: Writer) => Promise<number>;

/** What serves one client connection. */
export interface Connection {
  dispatch: Dispatch;
  /** The client went away: stop work done only for it (the calls still queued run, then closeAll). */
  abandon(): void;
  /** After the client's last call: close what it left open. */
  closeAll(): Promise<void>;
}

/** A connection served from the registry's devices (connection.ts: its own sessions and login states). */
export function moduleConnection(registry: Registry): Connection {
  const c = new ModuleConnection(registry);
  return {
    dispatch: (call, args, w) => {
      const handler = HANDLERS[call.name];
      return handler ? handler(c, args, w) : Promise.resolve(CKR.FUNCTION_NOT_SUPPORTED);
    },
    abandon: () => c.abandon(),
    closeAll: () => c.closeAll(),
  };
}

/** The registry a server serves: a registry, or one device attached before (Device.attach). */
const registryOf = (devices: Registry | Device) => (devices instanceof Device ? Registry.single(devices) : devices);

const reply = (rv: number, items?: Uint8Array) => {
  const head = new Writer().u64(rv).finish();
  if (!items?.length) return head;
  const out = new Uint8Array(head.length + items.length);
  out.set(head);
  out.set(items, head.length);
  return out;
};

/**
 * Runs one request body; returns the reply body (rv + items). The reply's items are those the call
 * table gives the call, checked as the module will decode them (codec.ts decodeReply): a handler that
 * writes other items is a bug, answered CKR_GENERAL_ERROR and logged, never sent to the module.
 */
export async function handleRequest(dispatch: Dispatch, body: Uint8Array): Promise<Uint8Array> {
  let call: CallSpec | undefined;
  let args: RequestArg[];
  let rv: number;
  const w = new Writer();
  try {
    const r = new Reader(body);
    call = callByNumber(r.u32());
    if (!call || call.scope === "local") return reply(CKR.FUNCTION_NOT_SUPPORTED);
    args = decodeArgs(call, r);
    if (call.name === "hello") {
      w.u64(RPC_VERSION);
      rv = CKR.OK;
    } else {
      rv = await dispatch(call, args, w);
    }
  } catch (e) {
    if (e instanceof PkcsError) return reply(e.rv);
    if (e instanceof WireError) return reply(CKR.ARGUMENTS_BAD);
    console.error(`agent: ${e instanceof Error ? e.message : String(e)}`);
    return reply(CKR.GENERAL_ERROR);
  }
  if (!carriesItems(call, rv)) return reply(rv);
  const items = w.finish();
  try {
    decodeReply(call, args, rv, items);
  } catch (e) {
    console.error(`agent: a reply against the call table (pc/rpc/calls.table): ${e instanceof Error ? e.message : String(e)}`);
    return reply(CKR.GENERAL_ERROR);
  }
  return reply(rv, items);
}

/**
 * Serves PKCS#11 modules on `path` until closed. Never replaces what is at `path` (listen fails
 * with EADDRINUSE: claimSocket removes a stale socket first); the socket is created mode 0600
 * (umask 077 around the bind, no chmod window) and removed at exit only if it is still this one.
 * With `fd` (systemd's listening socket, activation.ts) it serves that one and never removes it.
 */
export function serve(devices: Registry | Device, path: string, fd?: number): net.Server {
  const registry = registryOf(devices);
  return serveConnections(() => moduleConnection(registry), path, fd);
}

/** As serve, with `open` making each client's Connection (the loopback test serves a recorder). */
export function serveConnections(open: () => Connection, path: string, fd?: number): net.Server {
  const server = net.createServer((sock) => {
    const connection = open();
    let buf = new Uint8Array(0);
    let busy: Promise<void> = Promise.resolve();
    sock.on("data", (chunk) => {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      buf = joined;
      while (buf.length >= 4) {
        const len = new DataView(buf.buffer, buf.byteOffset).getUint32(0, true);
        if (len > MAX_REQUEST) return sock.destroy();
        if (buf.length < 4 + len) break;
        const body = buf.slice(4, 4 + len);
        buf = buf.slice(4 + len);
        busy = busy.then(async () => {
          const reply = await handleRequest(connection.dispatch, body);
          const frame = new Uint8Array(4 + reply.length);
          new DataView(frame.buffer).setUint32(0, reply.length, true);
          frame.set(reply, 4);
          if (!sock.destroyed) sock.write(frame);
        });
      }
    });
    sock.on("close", () => {
      connection.abandon();
      void busy.then(() => connection.closeAll());
    });
    sock.on("error", () => undefined);
  });
  if (fd !== undefined) return server.listen({ fd });
  const umask = process.umask(0o077);
  try {
    server.listen(path); // binds now, under the umask; "listening" follows on the next tick
  } finally {
    process.umask(umask);
  }
  let bound: BoundSocket | undefined;
  const release = () => void (bound && releaseSocket(bound));
  server.once("listening", () => {
    bound = boundSocket(path);
    process.on("exit", release);
  });
  server.once("close", () => process.off("exit", release));
  return server;
}

/**
 * Claims `path` (claimSocket: safe directory, no live agent there, a stale socket removed) and
 * serves on it, or serves the socket systemd passed for it; resolves once listening. Rejects with a message for the user.
 */
export async function listenAgent(devices: Registry | Device, path: string): Promise<net.Server> {
  const registry = registryOf(devices);
  return listenConnections(() => moduleConnection(registry), path);
}

/** As listenAgent, with `open` making each client's Connection. */
export async function listenConnections(open: () => Connection, path: string): Promise<net.Server> {
  const fd = activatedSocket(path); // started by systemd: its socket, checked (activation.ts)
  if (fd === undefined) await claimSocket(path);
  const server = serveConnections(open, path, fd);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "EADDRINUSE" ? new AgentRunningError(`another agent is serving ${path}`) : e));
  });
  return server;
}
