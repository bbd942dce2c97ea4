/**
 * The loopback test: the real module (build/libwim-pkcs11.so, driven by test/pkcs11/loopback/driver.c)
 * against the agent's real server (server.ts listenConnections, handleRequest: the table's decoder and
 * reply check) with no device. In place of the device a recorder answers every call: it keeps the
 * arguments the agent decoded and writes a reply made from the call's reply items in the table. For
 * every function the module forwards, what the C caller passed must be what the agent decoded, and
 * what the caller sees must be the reply the agent wrote. The agent's own requests go the same way
 * through the command line's client (pc/cli/rpc.ts) and the table's encoder.
 * Run: npx mocha test/pc/rpc-loopback.test.ts
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { CKR } from "../../modules/at/pkcs11.js";
import { carriesItems, decodeArgs, decodeReply, encodeRequest, type RequestArg } from "../../pc/agent/codec.js";
import { allCalls, callByName, callByNumber, type CallSpec, HELLO } from "../../pc/agent/functions.js";
import { type Connection, listenConnections } from "../../pc/agent/server.js";
import type { RpcAttribute, RpcMechanism, RpcOutput, RpcQuery } from "../../pc/agent/wire.js";
import { Reader, Writer } from "../../pc/agent/wire.js";
import { AgentClient as CliClient } from "../../pc/cli/rpc.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const MODULE = path.join(ROOT, "build/libwim-pkcs11.so");
const DRIVER = path.join(ROOT, "build/test-rpc-loopback");

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const h16 = (n: number) => `0x${n.toString(16)}`;

/** The decoded arguments as the driver prints what it passed. */
function showArgs(call: CallSpec, args: RequestArg[]): string {
  return [...call.request].map((code, i) => {
    const a = args[i];
    switch (code) {
      case "u": return `u:${a}`;
      case "b": return `b:${a === null ? "NULL" : hex(a as Uint8Array)}`;
      case "t": return `t:[${(a as RpcAttribute[]).map((e) => `${h16(e.type)}=${e.value === null ? "NULL" : hex(e.value)}`).join(",")}]`;
      case "q": return `q:[${(a as RpcQuery[]).map((e) => `${h16(e.type)}:${e.hasBuffer ? 1 : 0}:${e.capacity}`).join(",")}]`;
      case "m": return `m:${h16((a as RpcMechanism).type)}:${hex((a as RpcMechanism).parameter)}`;
      default: return `${code}:${(a as RpcOutput).hasBuffer ? 1 : 0}:${(a as RpcOutput).capacity}`;
    }
  }).join(" ");
}

/**
 * The agent reads a u above 2^53 - 1 as 2^53 - 1 (wire.ts Reader.u64: no slot, session, handle or count
 * is that large, so the call fails as for any unknown one); the driver passes one (C_GetTokenInfo's slot).
 */
const clampU = (line: string) => line.replace(/\bu:(\d+)/g, (all, n: string) => (BigInt(n) > BigInt(Number.MAX_SAFE_INTEGER) ? `u:${Number.MAX_SAFE_INTEGER}` : all));

type Reply = { rv: number; items: Uint8Array; view: string | undefined };

/**
 * The reply the recorder writes for a call: with `sizes` false, CKR_OK and a value for every reply item
 * (within its limits: they are the table's); with `sizes` true, CKR_BUFFER_TOO_SMALL carrying the sizes
 * for a call with O, Q or H, else CKR_SESSION_HANDLE_INVALID. `view` is what the driver must print.
 */
function makeReply(call: CallSpec, args: RequestArg[], sizes: boolean): Reply {
  const rv = !sizes ? CKR.OK : /[OQH]/.test(call.reply) ? CKR.BUFFER_TOO_SMALL : CKR.SESSION_HANDLE_INVALID;
  const w = new Writer();
  const view: string[] = [];
  const arg = (code: string) => args[call.request.indexOf(code)];
  const seed = call.number;
  if (carriesItems(call, rv)) {
    call.replyItems.forEach((item, k) => {
      const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (seed * 7 + k * 31 + i * 13) & 0xff);
      switch (item.code) {
        case "U": {
          // a full 64-bit value where the field takes it (the memory fields' CK_UNAVAILABLE_INFORMATION)
          const v = item.limit !== undefined ? BigInt((seed * 11 + k) % (Number(item.limit) + 1)) : k === 0 ? 0xffffffffffffffffn : 0x123456789n * BigInt(k + seed);
          w.u64(v);
          view.push(`U:${v}`);
          break;
        }
        case "B": {
          const exact = item.limit?.startsWith("=");
          const size = exact ? (args[call.requestItems.findIndex((i) => i.name === item.limit!.slice(1))] as number) : Math.min(Number(item.limit ?? 20), 5 + k);
          const v = bytes(size);
          w.bytes(v);
          view.push(`B:${hex(v)}${exact ? "" : "20".repeat(Number(item.limit) - size)}`);
          break;
        }
        case "O": {
          const o = arg("o") as RpcOutput;
          const data = rv === CKR.OK && o.hasBuffer ? bytes(Math.min(o.capacity, 5 + (seed % 3))) : new Uint8Array(0);
          const needed = 300 + seed;
          w.output(needed, data);
          view.push(rv === CKR.OK && o.hasBuffer ? `O:${data.length}:${hex(data)}` : `O:${needed}:`);
          break;
        }
        case "Q": {
          const q = arg("q") as RpcQuery[];
          w.u32(q.length);
          view.push(`Q:[${q.map((e, i) => {
            const value = rv === CKR.OK && e.hasBuffer ? bytes(Math.min(e.capacity, 2 + i)) : new Uint8Array(0);
            const length = e.hasBuffer ? value.length : 40 + i;
            w.u64(length).bytes(value);
            return `${length}:${hex(value)}`;
          }).join(",")}]`);
          break;
        }
        case "H": {
          const h = arg("h") as RpcOutput | undefined;
          const capacity = h ? (h.hasBuffer ? h.capacity : 0) : (args[call.requestItems.findIndex((i) => i.name === item.limit!.slice(2))] as number);
          const list = rv === CKR.OK ? Array.from({ length: Math.min(3, capacity) }, (_, i) => 1000 * seed + i) : [];
          const total = rv === CKR.OK && capacity ? list.length : 3 + seed;
          w.handles(total, list);
          view.push(`H:${total}:[${list.join(",")}]`);
          break;
        }
      }
    });
  }
  // Outputs the module leaves alone (an error without items) are not compared: only the rv.
  const compared = rv === CKR.OK || (carriesItems(call, rv) && call.reply.length > 0);
  return { rv, items: w.finish(), view: compared ? [`| ${rv}`, ...view].join(" ") : undefined };
}

/** A recorder in place of the device: every call's decoded arguments, and the reply it wrote. */
class Recorder {
  readonly seen: { call: CallSpec; args: string; reply: Reply }[] = [];
  sizes = false;
  connection(): Connection {
    return {
      dispatch: async (call, args, w) => {
        const reply = makeReply(call, args, this.sizes);
        this.seen.push({ call, args: showArgs(call, args), reply });
        w.raw(reply.items);
        return reply.rv;
      },
      abandon: () => undefined,
      closeAll: async () => undefined,
    };
  }
  take(): { call: CallSpec; args: string; reply: Reply }[] {
    return this.seen.splice(0);
  }
}

function runDriver(socket: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(DRIVER, [MODULE], { env: { ...process.env, WIM_AGENT_SOCKET: socket }, timeout: 60000 }, (e, stdout, stderr) => {
      if (e) reject(new Error(`${e.message}\n${stderr}`));
      else resolve(stdout.trim().split("\n"));
    });
  });
}

/** One raw request (function number and items) and its reply body. */
async function rawCall(socket: string, body: Uint8Array): Promise<Buffer> {
  const s = net.connect(socket);
  await new Promise((resolve, reject) => s.once("connect", resolve).once("error", reject));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length);
  s.write(Buffer.concat([head, body]));
  let buf = Buffer.alloc(0);
  for await (const chunk of s) {
    buf = Buffer.concat([buf, chunk as Buffer]);
    if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) break;
  }
  s.destroy();
  return buf.subarray(4, 4 + buf.readUInt32LE(0));
}

/**
 * Ways to spoil a good reply (undefined where one does not apply to the call): each must be refused by
 * the agent's check (decodeReply) and by the module (CKR_DEVICE_ERROR), so that the check is the module's.
 */
const SPOILERS: Record<string, (call: CallSpec, args: RequestArg[], items: Buffer) => Buffer | undefined> = {
  "one byte short": (_c, _a, items) => (items.length ? items.subarray(0, items.length - 1) : undefined),
  "one byte more": (_c, _a, items) => Buffer.concat([items, Buffer.of(0)]),
  "a U above its limit": (call, _a, items) => {
    let at = 0;
    for (const item of call.replyItems) {
      if (item.code === "U" && item.limit !== undefined) {
        const out = Buffer.from(items);
        out.writeBigUInt64LE(BigInt(Number(item.limit) + 1), at);
        return out;
      }
      if (item.code === "U") at += 8;
      else if (item.code === "B") at += 4 + items.readUInt32LE(at);
      else return undefined;
    }
    return undefined;
  },
  "more bytes than the caller's buffer": (call, args, items) => {
    const o = args[call.request.indexOf("o")] as RpcOutput | undefined;
    if (call.reply !== "O" || !o?.hasBuffer) return undefined;
    return Buffer.from(new Writer().output(o.capacity + 1, new Uint8Array(o.capacity + 1)).finish());
  },
  "more handles than the caller's buffer": (call, args, _items) => {
    if (call.reply !== "H") return undefined;
    const h = args[call.request.indexOf("h")] as RpcOutput | undefined;
    const capacity = h ? (h.hasBuffer ? h.capacity : undefined) : (args[1] as number);
    if (capacity === undefined) return undefined;
    return Buffer.from(new Writer().handles(capacity + 1, Array.from({ length: capacity + 1 }, (_, i) => i)).finish());
  },
  "a Q for another number of attributes": (call, args, _items) => {
    if (call.reply !== "Q") return undefined;
    return Buffer.from(new Writer().u32((args[2] as RpcQuery[]).length + 1).finish());
  },
  "random bytes of another length": (call, args, _items) => {
    if (call.reply !== "B" || !call.replyItems[0].limit?.startsWith("=")) return undefined;
    return Buffer.from(new Writer().bytes(new Uint8Array((args[1] as number) + 1)).finish());
  },
};

/** A bare agent (not server.ts: its check would stop these) answering every call with `spoil` applied to the good reply. */
function spoilingAgent(socket: string, spoil: (typeof SPOILERS)[string], spoiled: Set<string>, taken: Set<string>): Promise<net.Server> {
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
        const body = buf.subarray(4, 4 + buf.readUInt32LE(0));
        buf = buf.subarray(4 + body.length);
        const r = new Reader(body);
        const call = callByNumber(r.u32()) as CallSpec;
        const args = decodeArgs(call, r);
        const good = call.number === HELLO ? new Writer().u64(1).finish() : makeReply(call, args, false).items;
        const bad = call.number === HELLO ? undefined : spoil(call, args, Buffer.from(good));
        if (bad) {
          spoiled.add(call.name);
          try {
            decodeReply(call, args, CKR.OK, bad);
            taken.add(call.name); // the agent's check would have sent it
          } catch {
            // refused, as it must be
          }
        }
        const items = bad ?? Buffer.from(good);
        const frame = Buffer.alloc(12);
        frame.writeUInt32LE(8 + items.length, 0);
        frame.writeBigUInt64LE(0n, 4);
        sock.write(Buffer.concat([frame, items]));
      }
    });
    sock.on("error", () => undefined);
  });
  return new Promise((resolve) => server.listen(socket, () => resolve(server)));
}

/** Sample arguments for a request's codes. */
function sampleArgs(call: CallSpec): RequestArg[] {
  return [...call.request].map((code, i): RequestArg => {
    switch (code) {
      case "u": return 0x100000000 + call.number + i;
      case "b": return Buffer.from(`item ${i} of ${call.name}`);
      case "t": return [{ type: 3, value: Uint8Array.of(1) }, { type: 0x102, value: null }];
      case "q": return [{ type: 0x11, hasBuffer: true, capacity: 8 }];
      case "m": return { type: 0x1040, parameter: Uint8Array.of(6, 8) };
      default: return { hasBuffer: true, capacity: 16 };
    }
  });
}

describe("RPC loopback: the real module against the agent's real server, no device", function () {
  this.timeout(120000);
  const recorder = new Recorder();
  let dir: string;
  let socket: string;
  let server: net.Server;

  before(async () => {
    execFileSync("make", ["-s", "build/libwim-pkcs11.so", "build/test-rpc-loopback"], { cwd: ROOT, stdio: "inherit" });
    dir = mkdtempSync(path.join(os.tmpdir(), "wim-loopback-"));
    socket = path.join(dir, "agent.sock");
    server = await listenConnections(() => recorder.connection(), socket);
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const forwarded = allCalls().filter((c) => c.scope === "module");

  for (const sizes of [false, true]) {
    it(sizes ? "every forwarded function: an error reply (with the sizes where the table has O, Q, H) reaches the caller"
             : "every forwarded function: the caller's arguments decode in the agent, and the agent's reply reaches the caller", async () => {
      recorder.sizes = sizes;
      recorder.take();
      const lines = await runDriver(socket);
      const seen = recorder.take();
      assert.deepEqual(seen.map((s) => s.call.name), forwarded.map((c) => c.name), "the driver calls every forwarded function of the table, once, in order");
      assert.equal(lines.length, seen.length);
      lines.forEach((line, i) => {
        const { call, args, reply } = seen[i];
        const [passed, sees] = [line.slice(0, line.indexOf(" |")), line.slice(line.indexOf(" |") + 1)];
        assert.equal(clampU(passed), `${call.number} ${args}`.trimEnd(), `${call.name}: what the caller passed vs what the agent decoded`);
        if (reply.view) assert.equal(sees, reply.view, `${call.name}: what the caller sees vs what the agent wrote`);
        else assert.equal(sees.split(" ").slice(0, 2).join(" "), `| ${reply.rv}`, `${call.name}: rv`);
      });
    });
  }

  for (const [what, spoil] of Object.entries(SPOILERS)) {
    it(`a reply with ${what} is refused alike by the agent's check and by the module (CKR_DEVICE_ERROR)`, async () => {
      const other = path.join(dir, "spoil.sock");
      const spoiled = new Set<string>();
      const taken = new Set<string>();
      const bare = await spoilingAgent(other, spoil, spoiled, taken);
      try {
        const lines = await runDriver(other);
        assert.ok(spoiled.size > 0, "it applies to some call");
        assert.deepEqual([...taken], [], "the agent's check takes these spoiled replies");
        for (const line of lines) {
          const name = callByNumber(Number(line.split(" ")[0]))!.name;
          const rv = Number(line.slice(line.indexOf(" | ") + 3).split(" ")[0]);
          if (spoiled.has(name)) assert.equal(rv, CKR.DEVICE_ERROR, `${name}: the module took a reply with ${what}`);
          else assert.equal(rv, CKR.OK, `${name}: an unspoiled reply`);
        }
      } finally {
        await new Promise((resolve) => bare.close(resolve));
        rmSync(other, { force: true });
      }
    });
  }

  it("the agent's own requests: encoded by the table, decoded by the agent, replies decoded by the table", async () => {
    recorder.sizes = false;
    for (const call of allCalls().filter((c) => c.scope === "agent")) {
      recorder.take();
      const args = sampleArgs(call);
      const body = await rawCall(socket, encodeRequest(call, args));
      const seen = recorder.take();
      const rv = Number(body.readBigUInt64LE(0));
      assert.equal(rv, CKR.OK, call.name);
      const values = decodeReply(call, args, rv, body.subarray(8));
      assert.equal(values.length, call.reply.length, call.name);
      if (call.name === "hello") {
        assert.deepEqual(values, [1], "hello: protocol version 1, answered by the server itself");
        assert.equal(seen.length, 0);
        continue;
      }
      assert.equal(seen.length, 1, call.name);
      assert.equal(seen[0].args, showArgs(call, args), `${call.name}: decoded arguments`);
      assert.deepEqual(Buffer.from(body.subarray(8)), Buffer.from(seen[0].reply.items), `${call.name}: reply items`);
    }
  });

  it("the command line's client sends what the table says (pc/cli/rpc.ts)", async () => {
    recorder.take();
    const cli = await CliClient.connect(socket);
    try {
      const h = await cli.openSession(true);
      await cli.login(h, 1, "1234");
      await cli.find(h, [{ type: 0, value: Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0) }]);
      await cli.attribute(h, 77, 0x11);
      await cli.identityCertificate();
      await cli.setIdentityCertificate(h, Uint8Array.of(0x30, 0));
      const seen = recorder.take().map((s) => `${s.call.name} ${s.args}`);
      const session = h;
      assert.deepEqual(seen, [
        "C_GetSlotList u:1 h:1:1", // the first slot with a token (slot IDs are the devices': docs/agent.md)
        "C_OpenSession u:4000 u:6",
        `C_Login u:${session} u:1 b:31323334`,
        `C_FindObjectsInit u:${session} t:[0x0=0300000000000000]`,
        `C_FindObjects u:${session} u:1000`,
        `C_FindObjectsFinal u:${session}`,
        `C_GetAttributeValue u:${session} u:77 q:[0x11:0:0]`,
        `C_GetAttributeValue u:${session} u:77 q:[0x11:1:40]`,
        "WIM_GetIdentityCertificate ",
        `WIM_SetIdentityCertificate u:${session} b:3000`,
      ]);
      // A request whose items are not the call's never leaves the client.
      await assert.rejects(cli.call("C_Login", new Writer().u64(h)), /truncated/);
      assert.equal(recorder.take().length, 0);
    } finally {
      cli.close();
    }
    const pair = await CliClient.connect(socket);
    try {
      assert.equal((await pair.request("pair", "laptop")).rv, CKR.OK);
      assert.equal((await pair.request("pair-status")).rv, CKR.OK);
      assert.equal((await pair.request("unpair")).rv, CKR.OK);
      assert.deepEqual(recorder.take().map((s) => `${s.call.name} ${s.args}`), ["pair b:6c6170746f70", "pair-status ", "unpair "]);
    } finally {
      pair.close();
    }
  });

  it("a reply against the table is never sent: the agent answers CKR_GENERAL_ERROR", async () => {
    const call = callByName("C_GetSlotInfo");
    const broken: Connection = {
      dispatch: async (_c, _a, w) => {
        w.bytes(Uint8Array.of(0x41)).bytes(Uint8Array.of(0x42)).u64(1).u64(256).u64(0).u64(0).u64(0); // hwMajor 256 > 255
        return CKR.OK;
      },
      abandon: () => undefined,
      closeAll: async () => undefined,
    };
    const other = path.join(dir, "broken.sock");
    const s = await listenConnections(() => broken, other);
    try {
      const errors: string[] = [];
      const log = console.error;
      console.error = (m: string) => errors.push(m);
      try {
        const body = await rawCall(other, encodeRequest(call, [3]));
        assert.equal(Number(body.readBigUInt64LE(0)), CKR.GENERAL_ERROR);
        assert.equal(body.length, 8, "no items");
      } finally {
        console.error = log;
      }
      assert.match(errors.join("\n"), /C_GetSlotInfo U hwMajor: 256 > 255/);
    } finally {
      s.close();
    }
  });
});
