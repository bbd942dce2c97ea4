/**
 * The CLI's end of the agent's socket (docs/agent-rpc.md) for the agent's own requests: `pair`,
 * `pair-status`, `unpair`. The socket is checked as the module checks it (paths.ts): nothing is sent
 * to a socket in a directory another user could have put it in.
 */
import net from "node:net";
import path from "node:path";
import { AGENT_REQUESTS, type AgentRequest, HELLO } from "../agent/functions.js";
import { checkSocketDir } from "../agent/paths.js";

/** A reply: its CK_RV and, when it is CKR_OK, its one u64 item (if the request has one). */
export interface AgentReply {
  rv: number;
  value?: number;
}

/** One connection to a running agent. */
export class AgentClient {
  private buffer = Buffer.alloc(0);
  private waiting: ((frame: Buffer) => void) | undefined;
  private failWaiting: ((e: Error) => void) | undefined;
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on("data", (d) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      if (this.buffer.length < 4) return;
      const len = this.buffer.readUInt32LE(0);
      if (this.buffer.length < 4 + len || !this.waiting) return;
      const frame = this.buffer.subarray(4, 4 + len);
      this.buffer = this.buffer.subarray(4 + len);
      const w = this.waiting;
      this.waiting = undefined;
      w(frame);
    });
    sock.on("close", () => {
      this.closed = true;
      this.failWaiting?.(new Error("the agent closed the connection"));
    });
  }

  /** Connects and greets (hello); rejects if no agent listens there. */
  static async connect(socket: string): Promise<AgentClient> {
    checkSocketDir(path.dirname(path.resolve(socket)));
    const sock = net.connect(socket);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    const c = new AgentClient(sock);
    await c.raw(HELLO, Buffer.alloc(0));
    return c;
  }

  private raw(fn: number, items: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error("the agent closed the connection"));
    const head = Buffer.alloc(8);
    head.writeUInt32LE(4 + items.length, 0);
    head.writeUInt32LE(fn, 4);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
      this.sock.write(Buffer.concat([head, items]));
    });
  }

  /** Sends one of the agent's own requests; `name` is the `b` item of `pair`. */
  async call(request: AgentRequest, name?: string): Promise<AgentReply> {
    let items = Buffer.alloc(0);
    if (name !== undefined) {
      const b = Buffer.from(name, "latin1");
      items = Buffer.alloc(4 + b.length);
      items.writeUInt32LE(b.length, 0);
      b.copy(items, 4);
    }
    const frame = await this.raw(AGENT_REQUESTS[request], items);
    const rv = Number(frame.readBigUInt64LE(0));
    return { rv, value: rv === 0 && frame.length >= 16 ? Number(frame.readBigUInt64LE(8)) : undefined };
  }

  close(): void {
    this.sock.destroy();
  }
}
