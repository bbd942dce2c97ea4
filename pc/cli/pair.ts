/**
 * `wim pair [--socket PATH | --port PATH]`: pairs this host with the device (docs/channel.md): through
 * the running agent, or with --port on the serial port itself; the user presses the device's BOOT
 * button within 30 s. `wim unpair [--socket PATH | --port PATH]`: removes this host from the device's
 * paired hosts (inside the channel) and forgets the device.
 */
import os from "node:os";
import { CKR } from "../../modules/at/pkcs11.js";
import { Device } from "../agent/device.js";
import { HostKeys } from "../agent/hostkeys.js";
import { defaultSocketPath } from "../agent/paths.js";
import { openSerial } from "../agent/serial.js";
import { type Options, fail, sleep } from "./common.js";
import { AgentClient } from "./rpc.js";

/** How often `wim pair` asks whether the button was pressed (docs/channel.md). */
const PAIR_POLL_MS = 250;
const PRESS_PROMPT = (s: number) => `Press the BOOT button on the device within ${s} s`;
const NO_PRESS = "the button was not pressed in time (or another host asked at the same moment): nothing was paired; run `wim pair` again";

/** Pairs a device the agent holds in this process; `press` stands in for the user (wim sim --pair). */
export async function pairWith(device: Device, press?: () => Promise<void>): Promise<void> {
  const seconds = await device.pairStart(os.hostname());
  console.error(PRESS_PROMPT(seconds));
  if (press) await press();
  for (;;) {
    await sleep(PAIR_POLL_MS);
    const state = await device.pairPoll();
    if (state === 1) break;
    if (state !== 0) throw new Error(NO_PRESS);
  }
  console.error(`paired with ${device.identity.serial}; the secure channel is ${device.channelOpen ? "open" : "NOT open"}`);
}

/** `wim pair` / `wim unpair`: through the running agent, or with --port on the serial port itself. */
export async function pairing(o: Options, unpair: boolean): Promise<void> {
  const port = o.get("--port") as string | undefined;
  if (port) {
    const device = Device.over(openSerial(port), { keys: new HostKeys(), linkKind: "serial", log: (t) => console.error(`wim: ${t}`) });
    try {
      await device.attach();
      if (unpair) {
        await device.unpair();
        console.error(`unpaired from ${device.identity.serial}`);
      } else await pairWith(device);
    } catch (e) {
      fail((e as Error).message);
    } finally {
      device.link.close();
    }
    process.exit(0);
  }
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  const agent = await AgentClient.connect(socket).catch((e) => fail(`${e.message}; or give --port PATH`));
  const why = (rv: number) => rv === CKR.FUNCTION_FAILED ? "the device refused (pairing works over the cable only; at most 8 hosts; see the agent's log)" : `CK_RV 0x${rv.toString(16)} (see the agent's log)`;
  try {
    if (unpair) {
      const r = await agent.request("unpair");
      if (r.rv !== CKR.OK) fail(`unpairing failed: ${why(r.rv)}`);
      console.error("unpaired: the device no longer knows this host, and this host forgot the device");
      return;
    }
    const r = await agent.request("pair", os.hostname());
    if (r.rv !== CKR.OK) fail(`pairing failed: ${why(r.rv)}`);
    console.error(PRESS_PROMPT(r.value!));
    for (;;) {
      await sleep(PAIR_POLL_MS);
      const p = await agent.request("pair-status");
      if (p.rv !== CKR.OK) fail(`pairing failed: ${why(p.rv)}`);
      if (p.value === 1) break;
      if (p.value !== 0) fail(NO_PRESS);
    }
    console.error("paired: the agent now talks to the device through the secure channel");
  } finally {
    agent.close();
  }
}

