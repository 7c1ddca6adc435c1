import type { Logger } from '../common/log.ts';
import type { Signer } from '../protocol/crypto.ts';
import { signHeartbeat, type HeartbeatBody } from '../protocol/heartbeat.ts';
import type { Clock } from './bindings.ts';
import type { Link } from './link.ts';

/**
 * The terminal service's heartbeat (protocol/heartbeat.ts): sent when the link comes up and then every
 * `intervalMs` while it stays up; nothing is kept while it is down (the next one says everything). Checked
 * once a second, so a reconnect is reported within a second without a hook into the link.
 */
export interface HeartbeatOptions {
  readonly link: Link;
  readonly signer: Signer;
  readonly clock: Clock;
  /** Read at each check: pushed settings change it. */
  readonly intervalMs: () => number;
  /** What the terminal reports now. */
  readonly snapshot: () => HeartbeatBody;
  readonly log: Logger;
}

export class HeartbeatReporter {
  readonly #o: HeartbeatOptions;
  #cancel: (() => void) | undefined;
  #wasUp = false;
  #lastSentMs = Number.NEGATIVE_INFINITY;
  /** Heartbeats handed to the link. */
  sent = 0;

  constructor(o: HeartbeatOptions) {
    this.#o = o;
  }

  start(): void {
    const tick = () => {
      this.#tick();
      this.#cancel = this.#o.clock.setTimer(1000, tick);
    };
    tick();
  }

  #tick(): void {
    const up = this.#o.link.isUp();
    const now = this.#o.clock.monotonicMs();
    const due = (up && !this.#wasUp) || now - this.#lastSentMs >= this.#o.intervalMs();
    this.#wasUp = up;
    if (!up || !due) return;
    try {
      if (this.#o.link.report(signHeartbeat(this.#o.snapshot(), this.#o.signer))) {
        this.#lastSentMs = now;
        this.sent++;
      }
    } catch (e) {
      this.#o.log.warn({ err: e }, 'heartbeat not sent');
    }
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }
}
