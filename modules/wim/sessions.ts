/**
 * Logical channels (one per PC application) and their sessions, with the limits of limits.ts:
 * at most MAX_CHANNELS channels besides channel 0 and SESSIONS_PER_CHANNEL sessions each.
 *
 * Channels are cheap to ask for and must never pin the device: when every channel is taken, opening
 * one reclaims the least recently used channel that is not logged in (one with no sessions first;
 * failing that, one whose sessions are then closed). A logged-in channel is never reclaimed, so an
 * application without the PIN can at worst disturb other applications that are not logged in either,
 * and only those it outnumbers. Channel numbers are never handed out twice in a boot; a reclaimed number is
 * remembered, and using it again gives its application a fresh channel (no sessions, not logged in),
 * as if it had just opened one — so an application whose idle channel was reclaimed notices nothing.
 *
 * Links (issue 12): the device serves several links at once (the UART, BLE), each with its own channels.
 * A channel belongs to the link that opened it and no other link can select it; each link has its own
 * channel 0, kept here under the internal number -link (link 0's is 0, so the serial link is as before).
 * When a link ends (a BLE disconnect) dropLink closes its channels with their sessions.
 */
import { CKR, PkcsError } from "../at/pkcs11.js";
import { MAX_CHANNELS, REMEMBERED_RECLAIMS, SESSIONS_PER_CHANNEL } from "./limits.js";

/** One session: read/write or read-only, and the channel that opened it. */
export interface Session {
  readonly rw: boolean;
  readonly channel: number;
}

/** One logical channel: one PC application's login state (its sessions carry the channel). */
export interface Channel {
  login: "so" | "user" | undefined;
  /** A CKU_CONTEXT_SPECIFIC login that the next private-key operation may use. */
  contextLogin: boolean;
  /** When the channel was last used (a tick of the table's clock), for reclaiming. */
  used: number;
  /** The link that owns the channel (the index of its transport). */
  readonly link: number;
}

/** The internal number of link `link`'s channel 0 (link 0's is 0). */
export function homeChannel(link: number): number {
  return link === 0 ? 0 : -link;
}

/** The channel and session table of the device. */
export class Sessions {
  private readonly channels = new Map<number, Channel>();
  private readonly sessions = new Map<number, Session>();
  /** Reclaimed channel numbers and their links (insertion order: oldest first). */
  private readonly reclaimed = new Map<number, number>();
  private nextChannel = 1;
  private nextSession = 1;
  private clock = 0;

  /** `dropped(h)` is called for each session that ends (its session objects go with it). */
  constructor(private readonly dropped: (session: number) => void) {
    this.channels.set(0, fresh(0, 0));
  }

  /** Opens a channel for `link` (reclaiming one if all are taken); returns its number. */
  openChannel(link = 0): number {
    this.makeRoom();
    const ch = this.nextChannel++;
    this.channels.set(ch, fresh(++this.clock, link));
    return ch;
  }

  /**
   * The internal number of channel `ch` as link `link` names it: its own channel 0, or a channel it
   * opened; another link's channel is no channel at all (CKR_SESSION_HANDLE_INVALID).
   */
  resolve(link: number, ch: number): number {
    if (ch === 0) {
      const home = homeChannel(link);
      if (!this.channels.has(home)) this.channels.set(home, fresh(0, link));
      return home;
    }
    if (ch < 0 || this.owner(ch) !== link) throw new PkcsError(CKR.SESSION_HANDLE_INVALID, "no such channel");
    return ch;
  }

  /** Ends link `link`: closes the channels it opened (their numbers are not given out again) and empties its channel 0. */
  dropLink(link: number): void {
    for (const [ch, c] of [...this.channels]) {
      if (c.link !== link) continue;
      this.empty(ch);
      if (ch !== 0) this.channels.delete(ch);
    }
    for (const [ch, owner] of [...this.reclaimed]) if (owner === link) this.reclaimed.delete(ch);
  }

  /** The link that owns channel `ch` (open or reclaimed), undefined if there is none. */
  private owner(ch: number): number | undefined {
    return this.channels.get(ch)?.link ?? this.reclaimed.get(ch);
  }

  /** Closes a channel with its sessions. A link's channel 0 cannot be closed, only emptied. */
  closeChannel(ch: number): void {
    if (this.reclaimed.delete(ch)) return; // nothing left of it
    this.channel(ch);
    this.empty(ch);
    if (ch > 0) this.channels.delete(ch);
  }

  /** True if the channel is open, or was reclaimed and comes back on use (and, for ch > 0, belongs to `link`). */
  hasChannel(ch: number, link = 0): boolean {
    return ch === 0 || (ch > 0 && this.owner(ch) === link);
  }

  /** True if the channel is open now (a reclaimed one is not). */
  isOpen(ch: number): boolean {
    return this.channels.has(ch);
  }

  /** The channel `ch`, marked used; a reclaimed one comes back fresh. */
  channel(ch: number): Channel {
    let c = this.channels.get(ch);
    const link = this.reclaimed.get(ch);
    if (!c && link !== undefined) {
      this.makeRoom();
      this.reclaimed.delete(ch);
      c = fresh(0, link);
      this.channels.set(ch, c);
    }
    if (!c) throw new PkcsError(CKR.SESSION_HANDLE_INVALID, "no such channel");
    c.used = ++this.clock;
    return c;
  }

  /** Opens a session on channel `ch`: CKR_SESSION_COUNT beyond SESSIONS_PER_CHANNEL. */
  open(ch: number, rw: boolean): number {
    this.channel(ch);
    if (this.of(ch).length >= SESSIONS_PER_CHANNEL) throw new PkcsError(CKR.SESSION_COUNT);
    const h = this.nextSession++;
    this.sessions.set(h, { rw, channel: ch });
    return h;
  }

  /** Closes a session; the channel's last session logs the channel out. */
  close(ch: number, h: number): void {
    this.session(ch, h);
    this.drop(h);
    if (this.of(ch).length === 0) this.channel(ch).login = undefined;
  }

  /** A session of channel `ch`; another channel's session is as invalid as a closed one. */
  session(ch: number, h: number): Session {
    const s = this.sessions.get(h);
    if (!s || s.channel !== ch) throw new PkcsError(CKR.SESSION_HANDLE_INVALID);
    this.channel(ch);
    return s;
  }

  /** The sessions of channel `ch`. */
  of(ch: number): Session[] {
    return [...this.sessions.values()].filter((s) => s.channel === ch);
  }

  /** Open sessions in all, and how many of them are read/write. */
  counts(): { sessions: number; rw: number } {
    let rw = 0;
    for (const s of this.sessions.values()) if (s.rw) rw++;
    return { sessions: this.sessions.size, rw };
  }

  /** True if a session is open on any channel. */
  get any(): boolean {
    return this.sessions.size > 0;
  }

  /** Closes every session of `ch` and logs it out. */
  private empty(ch: number): void {
    for (const [h, s] of [...this.sessions]) if (s.channel === ch) this.drop(h);
    const c = this.channels.get(ch)!;
    c.login = undefined;
    c.contextLogin = false;
  }

  private drop(h: number): void {
    this.sessions.delete(h);
    this.dropped(h);
  }

  /** Frees a channel slot if all are taken: reclaims the least recently used channel not logged in,
   * preferring one without sessions; CKR_SESSION_COUNT if every channel is logged in. */
  private makeRoom(): void {
    let opened = 0;
    for (const ch of this.channels.keys()) if (ch > 0) opened++;
    if (opened < MAX_CHANNELS) return;
    let victim: number | undefined;
    let best: [number, number] | undefined; // (has sessions, last used): smaller is reclaimed first
    for (const [ch, c] of this.channels) {
      if (ch <= 0 || c.login) continue;
      const key: [number, number] = [this.of(ch).length ? 1 : 0, c.used];
      if (!best || key[0] < best[0] || (key[0] === best[0] && key[1] < best[1])) [victim, best] = [ch, key];
    }
    if (victim === undefined) throw new PkcsError(CKR.SESSION_COUNT, "every channel is logged in");
    this.empty(victim);
    this.reclaimed.set(victim, this.channels.get(victim)!.link);
    this.channels.delete(victim);
    if (this.reclaimed.size > REMEMBERED_RECLAIMS) this.reclaimed.delete(this.reclaimed.keys().next().value!);
  }
}

function fresh(used: number, link: number): Channel {
  return { login: undefined, contextLogin: false, used, link };
}
