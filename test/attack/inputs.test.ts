/**
 * Issue 10, finding 7: inputs that alias or mislead, through the agent's RPC as the module
 * speaks it and on the raw AT link: attribute types over 32 bits (they wrapped onto CKA_CLASS),
 * PIN lengths (a 65-byte PIN was CKR_DEVICE_ERROR), C_GenerateRandom's per-call maximum
 * (2^63 was CKR_GENERAL_ERROR).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { CKA, CKF, CKO, CKR, CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { encodeTemplate, encodeTypes, ulongValue } from "../../modules/at/template.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { MAX_PIN, MIN_PIN } from "../../modules/wim/token.js";
import { Device } from "../../pc/agent/device.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { serve } from "../../pc/agent/server.js";
import { MAX_RANDOM } from "../../pc/agent/wire.js";
import { type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { type Rep, Req, RpcClient, firstSlot } from "../e2e/rpc-client.js";

/** 2^32 + CKA_CLASS: it used to wrap onto CKA_CLASS. */
const HI = 1;
/** CK_UNAVAILABLE_INFORMATION as Rep.u64 reads it (a Number: 2^64). */
const UNAVAILABLE = Number(0xffffffffffffffffn);

/** A request item the test writes by hand: a u64 from two halves (types ≥ 2^53 too). */
const u64 = (r: Req, hi: number, lo: number) => r.u32(lo).u32(hi);

describe("attack: inputs that alias or mislead", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  let client: RpcClient;
  let closeServer: () => void;
  let h = 0, data = 0;
  let socketPath = "";
  const call = (r: Req) => client.call(r);
  const rv = async (r: Req) => (await call(r)).rv;
  const ok = (r: Rep) => (assert.equal(r.rv, CKR.OK, `rv ${r.rv}`), r);

  before(async () => {
    const state = tempDir("attack-inputs");
    sim = await startSim(state, ["--no-agent"]);
    link = new AtLink(openSerial(sim.pty));
    const device = new Device(link);
    await device.attach();
    const socket = (socketPath = path.join(state, "rpc.sock"));
    const server = serve(device, socket);
    closeServer = () => server.close();
    await new Promise((r) => server.once("listening", r));
    client = await RpcClient.connect(socket);
    ok(await call(new Req("hello")));
    h = ok(await call(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.SERIAL_SESSION | CKF.RW_SESSION))).u64();
    ok(await call(new Req("C_Login").u64(h).u64(CKU.USER).bytes(Buffer.from("123456"))));
    data = ok(await call(new Req("C_CreateObject").u64(h).template([
      { type: CKA.CLASS, value: ulongValue(CKO.DATA) }, { type: CKA.VALUE, value: Buffer.from("x") },
    ]))).u64();
  });
  after(async () => {
    client?.close();
    closeServer?.();
    link?.close();
    await sim?.stop();
  });

  describe("attribute types over 32 bits", () => {
    it("C_GetAttributeValue: that attribute is unavailable and the call CKR_ATTRIBUTE_TYPE_INVALID", async () => {
      const q = new Req("C_GetAttributeValue").u64(h).u64(data).u32(3);
      q.u64(CKA.CLASS).u8(1).u64(8);
      u64(q, HI, CKA.CLASS).u8(1).u64(8); // before: CKO_DATA, as if it were CKA_CLASS
      u64(q, 0xffffffff, 0xffffffff).u8(1).u64(8);
      const r = await call(q);
      assert.equal(r.rv, CKR.ATTRIBUTE_TYPE_INVALID);
      assert.equal(r.u32(), 3);
      assert.equal(r.u64(), 8);
      assert.deepEqual(Buffer.from(r.bytes()), Buffer.from(ulongValue(CKO.DATA)));
      for (let i = 0; i < 2; i++) {
        assert.equal(r.u64(), UNAVAILABLE, "ulValueLen = CK_UNAVAILABLE_INFORMATION");
        assert.equal(r.bytes().length, 0);
      }
    });

    it("C_CreateObject, C_SetAttributeValue, C_CopyObject: CKR_ATTRIBUTE_TYPE_INVALID", async () => {
      const t = (r: Req) => {
        r.u32(2).u64(CKA.VALUE).bytes(Buffer.from("y"));
        u64(r, HI, CKA.CLASS).bytes(ulongValue(CKO.DATA));
        return r;
      };
      assert.equal(await rv(t(new Req("C_CreateObject").u64(h))), CKR.ATTRIBUTE_TYPE_INVALID);
      assert.equal(await rv(t(new Req("C_SetAttributeValue").u64(h).u64(data))), CKR.ATTRIBUTE_TYPE_INVALID);
      assert.equal(await rv(t(new Req("C_CopyObject").u64(h).u64(data))), CKR.ATTRIBUTE_TYPE_INVALID);
    });

    it("C_FindObjectsInit: nothing matches (before: every data object)", async () => {
      const r = new Req("C_FindObjectsInit").u64(h).u32(1);
      u64(r, HI, CKA.CLASS).bytes(ulongValue(CKO.DATA));
      ok(await call(r));
      const found = ok(await call(new Req("C_FindObjects").u64(h).u64(10)));
      assert.equal(found.u64(), 0);
      ok(await call(new Req("C_FindObjectsFinal").u64(h)));
    });

    it("the device answers an unknown 32-bit type on the raw link with CKR_ATTRIBUTE_TYPE_INVALID", async () => {
      const spec = COMMAND_BY_NAME.get("+PKCSCREATE")!;
      const [[s]] = (await link.command(COMMAND_BY_NAME.get("+PKCSOPEN")!, [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
      const t = encodeTemplate([{ type: CKA.CLASS, value: ulongValue(CKO.DATA) }, { type: 0xfffffff0, value: Uint8Array.of(1) }]);
      await assert.rejects(link.command(spec, [s, t]), (e) => e instanceof PkcsError && e.rv === CKR.ATTRIBUTE_TYPE_INVALID);
      await link.command(COMMAND_BY_NAME.get("+PKCSCLOSE")!, [s]);
    });

    it("the shared template encoder refuses a type it cannot carry instead of wrapping it", () => {
      assert.throws(() => encodeTemplate([{ type: 2 ** 32, value: new Uint8Array(1) }]), RangeError);
      assert.throws(() => encodeTypes([2 ** 32 + CKA.CLASS]), RangeError);
    });
  });

  describe("PIN lengths", () => {
    const pin = (n: number, fill = 0x31) => Buffer.alloc(n, fill);

    it("C_GetTokenInfo's ulMinPinLen / ulMaxPinLen are the limits the checks use", async () => {
      const r = ok(await call(new Req("C_GetTokenInfo").u64(await firstSlot(client))));
      for (let i = 0; i < 4; i++) r.bytes();
      for (let i = 0; i < 5; i++) r.u64();
      assert.equal(r.u64(), MAX_PIN);
      assert.equal(r.u64(), MIN_PIN);
      const field = COMMAND_BY_NAME.get("+PKCSLOGIN")!.params.find((p) => p.name === "pin")!;
      assert.ok(field.max! >= MAX_PIN, "the AT line carries the longest PIN");
    });

    it("65 bytes (and 0, and 3) answer CKR_PIN_LEN_RANGE in C_Login, C_InitToken, C_InitPIN, C_SetPIN", async () => {
      const other = await RpcClient.connect(socketPath); // C_InitToken wants no session of its own
      ok(await other.call(new Req("hello")));
      for (const n of [MAX_PIN + 1, 0, MIN_PIN - 1, 1000]) {
        assert.equal(await rv(new Req("C_Login").u64(h).u64(CKU.SO).bytes(pin(n))), CKR.PIN_LEN_RANGE, `C_Login ${n}`);
        assert.equal((await other.call(new Req("C_InitToken").u64(await firstSlot(client)).bytes(pin(n)).bytes(Buffer.alloc(32, 0x20)))).rv, CKR.PIN_LEN_RANGE, `C_InitToken ${n}`);
        assert.equal(await rv(new Req("C_InitPIN").u64(h).bytes(pin(n))), CKR.PIN_LEN_RANGE, `C_InitPIN ${n}`);
        assert.equal(await rv(new Req("C_SetPIN").u64(h).bytes(pin(n)).bytes(pin(6))), CKR.PIN_LEN_RANGE, `C_SetPIN old ${n}`);
        assert.equal(await rv(new Req("C_SetPIN").u64(h).bytes(Buffer.from("123456")).bytes(pin(n))), CKR.PIN_LEN_RANGE, `C_SetPIN new ${n}`);
      }
      other.close();
      // nothing reached the verifier: the user is still logged in, no try was counted
      ok(await call(new Req("C_Logout").u64(h)));
      ok(await call(new Req("C_Login").u64(h).u64(CKU.USER).bytes(Buffer.from("123456"))));
    });

    it("a PIN of the longest length, with every byte the quoting must escape, is carried whole", async () => {
      const odd = Buffer.alloc(MAX_PIN, 0x41);
      Buffer.from([0x00, 0x22, 0x5c, 0x0d, 0x0a, 0x18, 0x08, 0x7f, 0xff, 0x3b, 0x2c]).copy(odd, 3);
      ok(await call(new Req("C_SetPIN").u64(h).bytes(Buffer.from("123456")).bytes(odd)));
      ok(await call(new Req("C_Logout").u64(h)));
      const wrong = Buffer.from(odd);
      wrong[5] ^= 1;
      assert.equal(await rv(new Req("C_Login").u64(h).u64(CKU.USER).bytes(wrong)), CKR.PIN_INCORRECT);
      ok(await call(new Req("C_Login").u64(h).u64(CKU.USER).bytes(odd)));
      ok(await call(new Req("C_SetPIN").u64(h).bytes(odd).bytes(Buffer.from("123456"))));
    });
  });

  describe("C_GenerateRandom's per-call maximum", () => {
    it("2^63 and MAX_RANDOM + 1 answer CKR_ARGUMENTS_BAD (before: CKR_GENERAL_ERROR)", async () => {
      assert.equal(await rv(u64(new Req("C_GenerateRandom").u64(h), 0x80000000, 0)), CKR.ARGUMENTS_BAD);
      assert.equal(await rv(new Req("C_GenerateRandom").u64(h).u64(MAX_RANDOM + 1)), CKR.ARGUMENTS_BAD);
    });

    it("MAX_RANDOM (1 MiB) works, in pieces the device allows", async () => {
      const r = ok(await call(new Req("C_GenerateRandom").u64(h).u64(MAX_RANDOM)));
      const bytes = r.bytes();
      assert.equal(bytes.length, MAX_RANDOM);
      assert.ok(new Set(bytes.subarray(0, 4096)).size > 200);
    });
  });
});
