import type { Logger } from '../../common/log.ts';
import type { Clock } from '../bindings.ts';
import type { TerminalConfig } from '../config.ts';
import type { Link } from '../link.ts';
import type { OutboxEntry, RecordStore } from '../outbox-store.ts';

/**
 * The forwarding window: records go to the gateway in sequence order, at most `syncWindow` unanswered at
 * a time, and each unanswered one is resent with the same bytes every `resendIntervalMs` until the
 * gateway answers it. What is in flight is kept in memory only: after a restart, or when the link comes
 * back, the window starts again from the oldest record still pending on disk.
 */

export interface ForwarderDeps {
  readonly outbox: Pick<RecordStore, 'pending' | 'bySeq'>;
  readonly link: Pick<Link, 'isUp' | 'send'>;
  readonly clock: Clock;
  readonly config: Pick<TerminalConfig, 'syncWindow' | 'resendIntervalMs'>;
  readonly log: Logger;
}

export class Forwarder {
  readonly #d: ForwarderDeps;
  /** Records handed to the link and not yet answered: when (monotonic ms), and their frame for a resend. */
  readonly #inFlight = new Map<string, { sentAt: number; frame: Buffer }>();
  /** The highest sequence number handed to the link since it came up: the window fills from there. */
  #sentThrough = 0;
  #cancelResendTimer: (() => void) | undefined;
  #stopped = false;

  constructor(d: ForwarderDeps) {
    this.#d = d;
  }

  /** Start the resend timer. */
  start(): void {
    this.#scheduleResend();
  }

  /** The link came (back) up: nothing is in flight on it yet, so the window starts again from the oldest record. */
  linkUp(): void {
    this.#inFlight.clear();
    this.#sentThrough = 0;
    this.pump();
  }

  /** Hand a record to the link now (a new online sale goes at once, ahead of any backlog). */
  send(entry: OutboxEntry): boolean {
    if (!this.#d.link.send(entry.frame)) return false;
    this.#inFlight.set(entry.txnId, { sentAt: this.#d.clock.monotonicMs(), frame: entry.frame });
    return true;
  }

  /** The gateway answered this record (or rejected it): it leaves the window. */
  answered(txnId: string): void {
    this.#inFlight.delete(txnId);
  }

  /**
   * Forward records in sequence order, at most `syncWindow` unanswered at a time: the window is filled
   * with the next pending records after the last one sent. Called when the link comes up, after each
   * commit and each batch of replies, and on the resend timer.
   */
  pump(): void {
    if (this.#stopped || !this.#d.link.isUp()) return;
    const room = this.#d.config.syncWindow - this.#inFlight.size;
    if (room <= 0) return;
    for (const entry of this.#d.outbox.pending(room, this.#sentThrough)) {
      if (!this.#inFlight.has(entry.txnId) && !this.send(entry)) return;
      this.#sentThrough = entry.seq;
    }
  }

  /** The gateway lacks these records (a gap in the sequence): send them again, whatever their state here. */
  resendMissing(seqs: readonly number[]): void {
    const found: number[] = [];
    for (const seq of seqs) {
      const e = this.#d.outbox.bySeq(seq);
      if (!e) continue;
      found.push(seq);
      if (this.#d.link.send(e.frame) && e.state === 'pending') this.#inFlight.set(e.txnId, { sentAt: this.#d.clock.monotonicMs(), frame: e.frame });
    }
    const lost = seqs.filter((s) => !found.includes(s));
    this.#d.log.warn({ resent: found.length, lost }, 'the gateway asked for missing records');
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelResendTimer?.();
  }

  /** Every resend interval: send again what is still unanswered (same bytes), then fill the window. */
  #scheduleResend(): void {
    if (this.#stopped) return;
    this.#cancelResendTimer = this.#d.clock.setTimer(this.#d.config.resendIntervalMs, () => {
      if (this.#d.link.isUp()) {
        const now = this.#d.clock.monotonicMs();
        for (const f of this.#inFlight.values()) {
          if (now - f.sentAt < this.#d.config.resendIntervalMs) continue;
          if (this.#d.link.send(f.frame)) f.sentAt = now;
        }
      }
      this.pump();
      this.#scheduleResend();
    });
  }
}
