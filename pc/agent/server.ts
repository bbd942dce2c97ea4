/**
 * The agent's unix-socket server: one Channel per module connection; requests are decoded with
 * the call table (functions.ts), run in order, and answered (docs/agent-rpc.md).
 */
import net from "node:net";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { Channel } from "./channel.js";
import type { Device } from "./device.js";
import { AGENT_REQUESTS, AGENT_REQUEST_ITEMS, type AgentRequest, EXTENSIONS, FUNCTIONS, type FunctionName, HELLO, REQUEST, RPC_VERSION } from "./functions.js";
import { tokenStatus } from "./status.js";
import { AgentRunningError, type BoundSocket, boundSocket, claimSocket, releaseSocket } from "./socket.js";
import { MAX_REQUEST, Reader, WireError, Writer } from "./wire.js";

type Handler = (c: Channel, args: any[], w: Writer) => Promise<number>;

/** The functions the agent implements; the rest answer CKR_FUNCTION_NOT_SUPPORTED. */
const HANDLERS: Partial<Record<FunctionName, Handler>> = {
  C_GetSlotList: (c, [present, out], w) => c.getSlotList(present, out, w),
  C_GetSlotInfo: (c, [slot], w) => c.getSlotInfo(slot, w),
  C_GetTokenInfo: (c, [slot], w) => c.getTokenInfo(slot, w),
  C_GetMechanismList: (c, [slot, out], w) => c.getMechanismList(slot, out, w),
  C_GetMechanismInfo: (c, [slot, type], w) => c.getMechanismInfo(slot, type, w),
  C_InitToken: (c, [slot, pin, label]) => c.initToken(slot, pin, label),
  C_InitPIN: (c, [h, pin]) => c.initPin(h, pin),
  C_OpenSession: (c, [slot, flags], w) => c.openSession(slot, flags, w),
  C_CloseSession: (c, [h]) => c.closeSession(h),
  C_CloseAllSessions: (c, [slot]) => c.closeAllSessions(slot),
  C_GetSessionInfo: (c, [h], w) => c.getSessionInfo(h, w),
  C_Login: (c, [h, type, pin]) => c.login(h, type, pin),
  C_Logout: (c, [h]) => c.logout(h),
  C_SetPIN: (c, [h, oldPin, newPin]) => c.setPin(h, oldPin, newPin),
  C_CreateObject: (c, [h, t], w) => c.createObject(h, t, w),
  C_CopyObject: (c, [h, o, t], w) => c.copyObject(h, o, t, w),
  C_DestroyObject: (c, [h, o]) => c.destroyObject(h, o),
  C_SetAttributeValue: (c, [h, o, t]) => c.setAttributeValue(h, o, t),
  C_GetObjectSize: (c, [h, o], w) => c.getObjectSize(h, o, w),
  C_GetAttributeValue: (c, [h, o, q], w) => c.getAttributeValue(h, o, q, w),
  C_FindObjectsInit: (c, [h, t]) => c.findObjectsInit(h, t),
  C_FindObjects: (c, [h, max], w) => c.findObjects(h, max, w),
  C_FindObjectsFinal: (c, [h]) => c.findObjectsFinal(h),
  C_DeriveKey: (c, [h, m, base, t], w) => c.deriveKey(h, m, base, t, w),
  C_GenerateKeyPair: (c, [h, m, pub, priv], w) => c.generateKeyPair(h, m, pub, priv, w),
  C_SignInit: (c, [h, m, key]) => c.signInit(h, m, key),
  C_Sign: (c, [h, data, out], w) => c.sign(h, data, out, w),
  C_SignUpdate: (c, [h, data]) => c.signUpdate(h, data),
  C_SignFinal: (c, [h, out], w) => c.signFinal(h, out, w),
  C_VerifyInit: (c, [h, m, key]) => c.verifyInit(h, m, key),
  C_Verify: (c, [h, data, sig]) => c.verify(h, data, sig),
  C_VerifyUpdate: (c, [h, data]) => c.verifyUpdate(h, data),
  C_VerifyFinal: (c, [h, sig]) => c.verifyFinal(h, sig),
  C_DigestInit: (c, [h, m]) => c.digestInit(h, m),
  C_Digest: (c, [h, data, out], w) => c.digest(h, data, out, w),
  C_DigestUpdate: (c, [h, data]) => c.digestUpdate(h, data),
  C_DigestFinal: (c, [h, out], w) => c.digestFinal(h, out, w),
  C_DecryptInit: (c, [h, m, key]) => c.decryptInit(h, m, key),
  C_Decrypt: (c, [h, data, out], w) => c.decrypt(h, data, out, w),
  C_EncryptInit: (c, [h, m, key]) => c.encryptInit(h, m, key),
  C_Encrypt: (c, [h, data, out], w) => c.encrypt(h, data, out, w),
  C_GenerateRandom: (c, [h, len], w) => c.generateRandom(h, len, w),
};

/** The agent's own requests (docs/agent-rpc.md, "Agent requests"). */
const AGENT_HANDLERS: Record<AgentRequest, Handler> = {
  pair: (c, [name], w) => c.pair(name, w),
  "pair-status": (c, _args, w) => c.pairStatus(w),
  unpair: (c) => c.unpair(),
};
const AGENT_BY_NUMBER = new Map(Object.entries(AGENT_REQUESTS).map(([name, fn]) => [fn as number, name as AgentRequest]));

/** Reply items are kept for these results besides CKR_OK. */
const KEEP_ITEMS = new Set<number>([CKR.OK, CKR.BUFFER_TOO_SMALL, CKR.ATTRIBUTE_SENSITIVE, CKR.ATTRIBUTE_TYPE_INVALID]);

function decodeArgs(items: string, r: Reader): unknown[] {
  const out: unknown[] = [];
  for (const code of items) {
    switch (code) {
      case "u": out.push(r.u64()); break;
      case "b": out.push(r.bytes()); break;
      case "t": out.push(r.template()); break;
      case "q": out.push(r.query()); break;
      case "m": out.push(r.mechanism()); break;
      case "o": case "h": out.push(r.output()); break;
      default: throw new Error(`bad item code ${code}`);
    }
  }
  r.end();
  return out;
}

/** Runs one request body; returns the reply body (rv + items). */
export async function handleRequest(channel: Channel, body: Uint8Array, device?: Device): Promise<Uint8Array> {
  const w = new Writer();
  let rv: number;
  try {
    const r = new Reader(body);
    const fn = r.u32();
    if (fn === HELLO) {
      r.end();
      return new Writer().u64(CKR.OK).u64(RPC_VERSION).finish();
    }
    const own = AGENT_BY_NUMBER.get(fn);
    if (fn === EXTENSIONS.WIM_GetIdentityCertificate.number) {
      decodeArgs(EXTENSIONS.WIM_GetIdentityCertificate.items, r);
      rv = await channel.identityCertificate(w);
    } else if (fn === EXTENSIONS.WIM_SetIdentityCertificate.number) {
      const [h, der] = decodeArgs(EXTENSIONS.WIM_SetIdentityCertificate.items, r) as [number, Uint8Array | null];
      rv = await channel.setIdentityCertificate(h, der);
    } else if (fn === EXTENSIONS.WIM_GetTokenStatus.number && device) {
      const [slot] = decodeArgs(EXTENSIONS.WIM_GetTokenStatus.items, r) as [number];
      rv = await tokenStatus(device, slot, w);
    } else {
      const name = FUNCTIONS[fn];
      const items = own ? AGENT_REQUEST_ITEMS[own] : name && REQUEST[name];
      const handler = own ? AGENT_HANDLERS[own] : name && HANDLERS[name];
      if (items === undefined || !handler) return new Writer().u64(CKR.FUNCTION_NOT_SUPPORTED).finish();
      rv = await handler(channel, decodeArgs(items, r), w);
    }
  } catch (e) {
    if (e instanceof PkcsError) rv = e.rv;
    else if (e instanceof WireError) rv = CKR.ARGUMENTS_BAD;
    else {
      console.error(`agent: ${e instanceof Error ? e.message : String(e)}`);
      rv = CKR.GENERAL_ERROR;
    }
    return new Writer().u64(rv).finish();
  }
  const head = new Writer().u64(rv).finish();
  if (!KEEP_ITEMS.has(rv)) return head;
  const tail = w.finish();
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/**
 * Serves PKCS#11 modules on `path` until closed. Never replaces what is at `path` (listen fails
 * with EADDRINUSE: claimSocket removes a stale socket first); the socket is created mode 0600
 * (umask 077 around the bind, no chmod window) and removed at exit only if it is still this one.
 */
export function serve(device: Device, path: string): net.Server {
  const server = net.createServer((sock) => {
    const channel = new Channel(device);
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
          const reply = await handleRequest(channel, body, device);
          const frame = new Uint8Array(4 + reply.length);
          new DataView(frame.buffer).setUint32(0, reply.length, true);
          frame.set(reply, 4);
          if (!sock.destroyed) sock.write(frame);
        });
      }
    });
    sock.on("close", () => {
      channel.abandon();
      void busy.then(() => channel.closeAll());
    });
    sock.on("error", () => undefined);
  });
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
 * serves on it; resolves once listening. Rejects with a message for the user.
 */
export async function listenAgent(device: Device, path: string): Promise<net.Server> {
  await claimSocket(path);
  const server = serve(device, path);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "EADDRINUSE" ? new AgentRunningError(`another agent is serving ${path}`) : e));
  });
  return server;
}
