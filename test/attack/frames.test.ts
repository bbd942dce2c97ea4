/**
 * Issue 10, finding 7: request frames. The module and the agent agree on one maximum request
 * size (1 MiB; the module refuses a larger one with a CK_RV, test/pkcs11's test_limits), and a
 * misbehaving client — over-size, truncated, inconsistent or unknown requests — gets a CK_RV or
 * loses only its own connection, while every other client keeps its sessions.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { CKF, CKR, CKU } from "../../modules/at/pkcs11.js";
import { Device } from "../../pc/agent/device.js";
import { FUNCTIONS } from "../../pc/agent/functions.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { serve } from "../../pc/agent/server.js";
import { MAX_RANDOM, MAX_REQUEST } from "../../pc/agent/wire.js";
import { ROOT, type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { Req, RpcClient, firstSlot } from "../e2e/rpc-client.js";

/** The value of `#define NAME (a * b)` / `(a u)` in a C file, evaluated as a product. */
function cDefine(file: string, name: string): number {
  const m = new RegExp(`#define ${name} \\(([^)]*)\\)`).exec(readFileSync(path.join(ROOT, file), "utf8"));
  assert.ok(m, `${name} in ${file}`);
  return m[1].split("*").reduce((p, f) => p * Number(f.trim().replace(/u$/, "")), 1);
}

/** A raw client: sends any bytes, reads reply frames, notices when the agent closes it. */
class RawClient {
  private buf = Buffer.alloc(0);
  closed = false;
  private constructor(private readonly sock: net.Socket) {
    sock.on("data", (d) => (this.buf = Buffer.concat([this.buf, d])));
    sock.on("close", () => (this.closed = true));
    sock.on("error", () => undefined);
  }
  static connect(p: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(p, () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }
  send(bytes: Buffer): void {
    this.sock.write(bytes);
  }
  /** A frame announcing `length` body bytes, with `body` (possibly shorter or longer). */
  frame(length: number, body: Buffer): void {
    const head = Buffer.alloc(4);
    head.writeUInt32LE(length);
    this.send(Buffer.concat([head, body]));
  }
  /** The next reply's CK_RV. */
  async rv(): Promise<number> {
    for (let i = 0; i < 400; i++) {
      if (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32LE(0)) {
        const n = this.buf.readUInt32LE(0);
        const rv = Number(this.buf.readBigUInt64LE(4));
        this.buf = this.buf.subarray(4 + n);
        return rv;
      }
      if (this.closed) throw new Error("closed by the agent");
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error("no reply");
  }
  async whenClosed(): Promise<void> {
    for (let i = 0; i < 400 && !this.closed; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(this.closed, "the agent closed the connection");
  }
  close(): void {
    this.sock.destroy();
  }
}

const le32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const le64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const fn = (name: (typeof FUNCTIONS)[number]) => le32(FUNCTIONS.indexOf(name));

describe("attack: request frames from a misbehaving client", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  let socket = "";
  let closeServer: () => void;
  let victim: RpcClient;
  let session = 0;

  before(async () => {
    const state = tempDir("attack-frames");
    sim = await startSim(state, ["--no-agent"]);
    link = new AtLink(openSerial(sim.pty));
    const device = new Device(link);
    await device.attach();
    socket = path.join(state, "rpc.sock");
    const server = serve(device, socket);
    closeServer = () => server.close();
    await new Promise((r) => server.once("listening", r));
    victim = await RpcClient.connect(socket);
    assert.equal((await victim.call(new Req("hello"))).rv, CKR.OK);
    const r = await victim.call(new Req("C_OpenSession").u64(await firstSlot(victim)).u64(CKF.SERIAL_SESSION | CKF.RW_SESSION));
    session = r.u64();
    assert.equal((await victim.call(new Req("C_Login").u64(session).u64(CKU.USER).bytes(Buffer.from("123456")))).rv, CKR.OK);
  });
  after(async () => {
    victim?.close();
    closeServer?.();
    link?.close();
    await sim?.stop();
  });

  /** The other application still has its session, logged in. */
  async function victimUnharmed(): Promise<void> {
    const r = await victim.call(new Req("C_GetSessionInfo").u64(session));
    assert.equal(r.rv, CKR.OK);
    r.u64();
    assert.equal(r.u64(), 3 /* CKS_RW_USER_FUNCTIONS */);
  }

  it("the module and the agent name the same maximum request and random sizes", () => {
    assert.equal(MAX_REQUEST, 1 << 20);
    assert.equal(cDefine("pc/pkcs11/marshal.c", "WIM_MAX_REQUEST"), MAX_REQUEST);
    assert.equal(cDefine("pc/pkcs11/forward.c", "WIM_MAX_RANDOM"), MAX_RANDOM);
    assert.ok(MAX_RANDOM + 64 <= 64 * 1024 * 1024, "a maximal C_GenerateRandom reply fits the module's reply limit");
  });

  it("a request of exactly the maximum is served; one byte more closes only that client", async () => {
    const c = await RawClient.connect(socket);
    c.frame(4, le32(0xffff));
    assert.equal(await c.rv(), CKR.OK);
    // C_SeedRandom: fn + u + b = 16 + n bytes (the agent does not implement it: a CK_RV all the same)
    const n = MAX_REQUEST - 16;
    c.frame(MAX_REQUEST, Buffer.concat([fn("C_SeedRandom"), le64(session), le32(n), Buffer.alloc(n)]));
    assert.equal(await c.rv(), CKR.FUNCTION_NOT_SUPPORTED);
    c.frame(MAX_REQUEST + 1, Buffer.alloc(16));
    await c.whenClosed();
    await victimUnharmed();
  });

  it("truncated, inconsistent and unknown requests answer a CK_RV, and the client goes on", async () => {
    const c = await RawClient.connect(socket);
    c.frame(4, le32(0xffff));
    assert.equal(await c.rv(), CKR.OK);
    const cases: [string, Buffer, number][] = [
      ["empty body", Buffer.alloc(0), CKR.ARGUMENTS_BAD],
      ["half a function number", Buffer.from([1, 0]), CKR.ARGUMENTS_BAD],
      ["unknown function", le32(9999), CKR.FUNCTION_NOT_SUPPORTED],
      ["function 0xFFFFFFFF", le32(0xffffffff), CKR.FUNCTION_NOT_SUPPORTED],
      ["local-only function", fn("C_Initialize"), CKR.FUNCTION_NOT_SUPPORTED],
      ["items missing", Buffer.concat([fn("C_GetSessionInfo")]), CKR.ARGUMENTS_BAD],
      ["a byte string longer than the frame", Buffer.concat([fn("C_Login"), le64(session), le64(1), le32(1000), Buffer.from("1234")]), CKR.ARGUMENTS_BAD],
      ["a template of 2^32-1 attributes", Buffer.concat([fn("C_CreateObject"), le64(session), le32(0xffffffff)]), CKR.ARGUMENTS_BAD],
      ["a query of 4,000 attributes in 20 bytes", Buffer.concat([fn("C_GetAttributeValue"), le64(session), le64(1), le32(4000), Buffer.alloc(8)]), CKR.ARGUMENTS_BAD],
      ["trailing bytes", Buffer.concat([fn("C_GetSessionInfo"), le64(session), Buffer.alloc(3)]), CKR.ARGUMENTS_BAD],
      ["a hello with items", Buffer.concat([le32(0xffff), Buffer.alloc(4)]), CKR.ARGUMENTS_BAD],
    ];
    for (const [what, body, want] of cases) {
      c.frame(body.length, body);
      assert.equal(await c.rv(), want, what);
    }
    // still served
    c.frame(4 + 8 + 8, Buffer.concat([fn("C_OpenSession"), le64(await firstSlot(victim)), le64(CKF.SERIAL_SESSION)]));
    assert.equal(await c.rv(), CKR.OK);
    assert.ok(!c.closed);
    await victimUnharmed();
    c.close();
  });

  it("a client that dies in the middle of a frame harms nobody", async () => {
    const c = await RawClient.connect(socket);
    c.frame(4, le32(0xffff));
    assert.equal(await c.rv(), CKR.OK);
    c.frame(5000, Buffer.alloc(100)); // announces 5000 bytes, sends 100, goes away
    c.close();
    await new Promise((r) => setTimeout(r, 50));
    await victimUnharmed();
    const r = await victim.call(new Req("C_GenerateRandom").u64(session).u64(32));
    assert.equal(r.rv, CKR.OK);
    assert.equal(r.bytes().length, 32);
  });
});
