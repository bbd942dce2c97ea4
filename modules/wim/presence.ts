/**
 * The Presence capability (env.ts) built from a platform's button: its level, its change events and
 * a one-shot timer. Shared by the ESP32 Env (ECMA-419 Digital + Moddable's Timer) and the simulator's
 * (its control socket + setTimeout); pure, so both behave the same.
 */
import type { Presence } from "./env.js";

/** Starts a one-shot timer; returns its cancel function. */
export type StartTimer = (callback: () => void, ms: number) => () => void;

/** A Presence over `read` (true while pressed); call `changed` from the platform's edge events. */
export function buttonPresence(read: () => boolean, startTimer: StartTimer): {
  presence: Presence;
  changed(pressed: boolean): void;
} {
  const waiters = new Set<(pressed: boolean) => void>();
  /** Pending held() calls: settled false at a release. */
  const holders = new Set<(held: boolean) => void>();
  const listeners: ((pressed: boolean) => void)[] = [];
  const changed = (pressed: boolean): void => {
    if (pressed) for (const settle of [...waiters]) settle(true);
    else for (const settle of [...holders]) settle(false);
    for (const listener of listeners) listener(pressed);
  };
  const held = (ms: number): Promise<boolean> => {
    if (!(ms >= 0)) return Promise.reject(new RangeError("presence.held: ms must be a number >= 0"));
    if (!read()) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let cancel = (): void => {};
      const settle = (down: boolean): void => {
        if (!holders.delete(settle)) return;
        cancel();
        resolve(down && read());
      };
      holders.add(settle);
      cancel = startTimer(() => settle(true), ms);
    });
  };
  const wait = (ms: number): Promise<boolean> => {
    if (!(ms >= 0)) return Promise.reject(new RangeError("presence.wait: ms must be a number >= 0"));
    if (read()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let cancel = (): void => {};
      const settle = (pressed: boolean): void => {
        if (!waiters.delete(settle)) return;
        cancel();
        resolve(pressed);
      };
      waiters.add(settle);
      cancel = startTimer(() => settle(false), ms);
    });
  };
  const onChange = (listener: (pressed: boolean) => void): void => void listeners.push(listener);
  return { presence: { pressed: read, wait, held, onChange }, changed };
}
