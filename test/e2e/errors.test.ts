/**
 * PKCS#11 error paths through the agent and the device, call by call (the agent's RPC, as the
 * module speaks it): bad handles, wrong state, bad templates, the size-query convention, and an
 * error in the middle of an operation ending it.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { CKA, CKF, CKM, CKO, CKR, CKU } from "../../modules/at/pkcs11.js";
import { ulongValue } from "../../modules/at/template.js";
import { Device } from "../../pc/agent/device.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { serve } from "../../pc/agent/server.js";
import { type SimToken, startSim, tempDir } from "./harness.js";
import { type Rep, Req, RpcClient, firstSlot } from "./rpc-client.js";

describe("PKCS#11 error paths", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  let client: RpcClient;
  let closeServer: () => void;
  let h = 0, priv = 0, pub = 0;
  const call = (r: Req) => client.call(r);
  const rv = async (r: Req) => (await call(r)).rv;
  const ok = (r: Rep) => (assert.equal(r.rv, CKR.OK), r);

  before(async () => {
    const state = tempDir("errors");
    sim = await startSim(state, ["--no-agent"]);
    link = new AtLink(openSerial(sim.pty));
    const device = new Device(link);
    await device.attach();
    const socket = path.join(state, "rpc.sock");
    const server = serve(device, socket);
    closeServer = () => server.close();
    await new Promise((r) => server.once("listening", r));
    client = await RpcClient.connect(socket);
    ok(await call(new Req("hello")));
    h = ok(await call(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.SERIAL_SESSION | CKF.RW_SESSION))).u64();
  });
  after(async () => {
    client?.close();
    closeServer?.();
    link?.close();
    await sim?.stop();
  });

  it("bad slot, session and object handles", async () => {
    assert.equal(await rv(new Req("C_GetTokenInfo").u64(7)), CKR.SLOT_ID_INVALID);
    assert.equal(await rv(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.RW_SESSION)), CKR.SESSION_PARALLEL_NOT_SUPPORTED);
    assert.equal(await rv(new Req("C_Logout").u64(999)), CKR.SESSION_HANDLE_INVALID);
    assert.equal(await rv(new Req("C_Logout").u64(h)), CKR.USER_NOT_LOGGED_IN);
    assert.equal(await rv(new Req("C_Login").u64(h).u64(7).bytes(Buffer.from("123456"))), CKR.USER_TYPE_INVALID);
    assert.equal(await rv(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(12345)), CKR.KEY_HANDLE_INVALID);
    assert.equal(await rv(new Req("C_FindObjects").u64(h).u64(10)), CKR.OPERATION_NOT_INITIALIZED);
    assert.equal(await rv(new Req("C_Sign").u64(h).bytes(Buffer.alloc(4)).output(512)), CKR.OPERATION_NOT_INITIALIZED);
    assert.equal(await rv(new Req("C_GetMechanismInfo").u64(await firstSlot(client)).u64(0x1234)), CKR.MECHANISM_INVALID);
  });

  it("generation needs the user, and a well-formed template", async () => {
    const gen = (bits: number) => new Req("C_GenerateKeyPair").u64(h).mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN)
      .template([{ type: CKA.MODULUS_BITS, value: ulongValue(bits) }]).template([]);
    assert.equal(await rv(gen(2048)), CKR.USER_NOT_LOGGED_IN);
    ok(await call(new Req("C_Login").u64(h).u64(CKU.USER).bytes(Buffer.from("123456"))));
    assert.equal(await rv(new Req("C_Login").u64(h).u64(CKU.USER).bytes(Buffer.from("123456"))), CKR.USER_ALREADY_LOGGED_IN);
    assert.equal(await rv(gen(1024)), CKR.KEY_SIZE_RANGE);
    assert.equal(await rv(new Req("C_GenerateKeyPair").u64(h).mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN).template([]).template([])), CKR.TEMPLATE_INCOMPLETE);
    assert.equal(await rv(new Req("C_GenerateKeyPair").u64(h).mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN)
      .template([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]).template([{ type: CKA.EXTRACTABLE, value: Buffer.of(1) }])), CKR.TEMPLATE_INCONSISTENT);
    assert.equal(await rv(new Req("C_GenerateKeyPair").u64(h).mechanism(CKM.SHA256).template([]).template([])), CKR.MECHANISM_INVALID);
    const r = ok(await call(gen(2048)));
    [pub, priv] = [r.u64(), r.u64()];
  });

  it("attribute queries: sizes, sensitive and invalid types, short buffers", async () => {
    const q = new Req("C_GetAttributeValue").u64(h).u64(priv).u32(3)
      .u64(CKA.MODULUS).u8(0).u64(0)          // size query
      .u64(CKA.PRIVATE_EXPONENT).u8(1).u64(512) // sensitive
      .u64(0x7fff0000).u8(1).u64(8);           // no such attribute
    const r = await call(q);
    assert.equal(r.rv, CKR.ATTRIBUTE_SENSITIVE);
    const UNAVAILABLE = Number(2n ** 64n - 1n);
    assert.equal(r.u32(), 3);
    assert.equal(r.u64(), 256, "the modulus size");
    r.bytes();
    assert.equal(r.u64(), UNAVAILABLE, "sensitive");
    r.bytes();
    assert.equal(r.u64(), UNAVAILABLE, "no such attribute");
    const short = await call(new Req("C_GetAttributeValue").u64(h).u64(priv).u32(1).u64(CKA.MODULUS).u8(1).u64(10));
    assert.equal(short.rv, CKR.BUFFER_TOO_SMALL);
    assert.equal(await rv(new Req("C_GetAttributeValue").u64(h).u64(4242).u32(1).u64(CKA.CLASS).u8(1).u64(8)), CKR.OBJECT_HANDLE_INVALID);
  });

  it("the size query and a short buffer keep a sign operation; an error ends it", async () => {
    assert.equal(await rv(new Req("C_SignInit").u64(h).mechanism(CKM.ECDSA).u64(priv)), CKR.KEY_TYPE_INCONSISTENT);
    assert.equal(await rv(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(pub)), CKR.KEY_TYPE_INCONSISTENT);
    ok(await call(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(priv)));
    assert.equal(await rv(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(priv)), CKR.OPERATION_ACTIVE);
    const query = ok(await call(new Req("C_Sign").u64(h).bytes(Buffer.alloc(20)).output(0)));
    assert.equal(query.u64(), 256);
    const short = await call(new Req("C_Sign").u64(h).bytes(Buffer.alloc(20)).output(100));
    assert.equal(short.rv, CKR.BUFFER_TOO_SMALL);
    assert.equal(short.u64(), 256);
    // too long for PKCS#1 v1.5 with a 2048-bit key: the device refuses, and the operation is over
    assert.equal(await rv(new Req("C_Sign").u64(h).bytes(Buffer.alloc(246)).output(256)), CKR.DATA_LEN_RANGE);
    assert.equal(await rv(new Req("C_Sign").u64(h).bytes(Buffer.alloc(20)).output(256)), CKR.OPERATION_NOT_INITIALIZED);
    ok(await call(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(priv)));
    const sig = ok(await call(new Req("C_Sign").u64(h).bytes(Buffer.alloc(20)).output(256)));
    assert.equal((sig.u64(), sig.bytes()).length, 256);
  });

  it("verification failures name the right CK_RV", async () => {
    ok(await call(new Req("C_VerifyInit").u64(h).mechanism(CKM.RSA_PKCS).u64(pub)));
    assert.equal(await rv(new Req("C_Verify").u64(h).bytes(Buffer.alloc(20)).bytes(Buffer.alloc(10))), CKR.SIGNATURE_LEN_RANGE);
    ok(await call(new Req("C_VerifyInit").u64(h).mechanism(CKM.RSA_PKCS).u64(pub)));
    assert.equal(await rv(new Req("C_Verify").u64(h).bytes(Buffer.alloc(20)).bytes(Buffer.alloc(256, 1))), CKR.SIGNATURE_INVALID);
    assert.equal(await rv(new Req("C_VerifyInit").u64(h).mechanism(CKM.RSA_PKCS).u64(priv)), CKR.KEY_TYPE_INCONSISTENT);
  });

  it("objects: read-only sessions, unknown classes, and PIN lengths", async () => {
    const ro = ok(await call(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.SERIAL_SESSION))).u64();
    const cert = [{ type: CKA.CLASS, value: ulongValue(CKO.DATA) }, { type: CKA.TOKEN, value: Buffer.of(1) }];
    assert.equal(await rv(new Req("C_CreateObject").u64(ro).template(cert)), CKR.SESSION_READ_ONLY);
    assert.equal(await rv(new Req("C_CreateObject").u64(h).template([{ type: CKA.CLASS, value: ulongValue(99) }])), CKR.ATTRIBUTE_VALUE_INVALID);
    assert.equal(await rv(new Req("C_SetPIN").u64(h).bytes(Buffer.from("123456")).bytes(Buffer.from("12"))), CKR.PIN_LEN_RANGE);
    assert.equal(await rv(new Req("C_InitToken").u64(await firstSlot(client)).bytes(Buffer.from("12345678")).bytes(Buffer.alloc(32, 32))), CKR.SESSION_EXISTS);
    ok(await call(new Req("C_CloseSession").u64(ro)));
    assert.equal(await rv(new Req("C_CloseSession").u64(ro)), CKR.SESSION_HANDLE_INVALID);
  });
});
