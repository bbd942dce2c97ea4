/** Where the agent listens and where the module looks (the same rule as pc/pkcs11). */
import os from "node:os";
import path from "node:path";

/** $WIM_AGENT_SOCKET, else $XDG_RUNTIME_DIR/wim-agent.sock, else /tmp/wim-agent-<uid>.sock. */
export function defaultSocketPath(): string {
  if (process.env.WIM_AGENT_SOCKET) return process.env.WIM_AGENT_SOCKET;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, "wim-agent.sock");
  return path.join("/tmp", `wim-agent-${os.userInfo().uid}.sock`);
}
