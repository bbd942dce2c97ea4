/**
 * The device as the agent sees it: the AT link plus what it reported about itself (identity,
 * mechanisms). Shared by every client connection.
 */
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { COMMAND_BY_NAME, type CommandSpec } from "../../modules/at/table.js";
import type { Value } from "../../modules/at/codec.js";
import type { AtLink } from "./link.js";

/** A device mechanism as +PKCSMECH reports it. */
export interface DeviceMechanism {
  type: number;
  min: number;
  max: number;
  flags: number;
}

/** What ATI-style commands report. */
export interface DeviceIdentity {
  manufacturer: string;
  model: string;
  revision: string;
  serial: string;
}

/** The spec of an AT+PKCS command by name; throws on a typo. */
export function cmd(name: string): CommandSpec {
  const spec = COMMAND_BY_NAME.get(name);
  if (!spec) throw new Error(`no command ${name}`);
  return spec;
}

/** One attached device. */
export class Device {
  identity: DeviceIdentity = { manufacturer: "", model: "", revision: "", serial: "" };
  mechanisms: DeviceMechanism[] = [];
  /** Login state of the device (one channel per device in this version). */
  login: "so" | "user" | undefined;

  constructor(readonly link: AtLink) {}

  /** Prepares the link and reads the identity and mechanisms. */
  async attach(): Promise<void> {
    await this.link.start();
    const one = async (c: string) => (await this.link.line("AT" + c)).info[0] ?? "";
    this.identity = { manufacturer: await one("+GMI"), model: await one("+GMM"), revision: await one("+GMR"), serial: await one("+GSN") };
    this.mechanisms = (await this.run("+PKCSMECH")).map(([type, min, max, flags]) => ({
      type: type as number, min: min as number, max: max as number, flags: flags as number,
    }));
  }

  /** Runs an AT+PKCS command; a broken link becomes CKR_DEVICE_ERROR. */
  async run(name: string, values: readonly Value[] = []): Promise<Value[][]> {
    try {
      return await this.link.command(cmd(name), values);
    } catch (e) {
      if (e instanceof PkcsError) throw e;
      throw new PkcsError(CKR.DEVICE_ERROR, String(e));
    }
  }
}
