import type { Logger } from '../common/log.ts';
import type { ConnectClaims } from '../protocol/connect-token.ts';
import type { Ledger, TerminalContact } from './ledger/ledger.ts';

/**
 * What the gateway itself knows of each terminal's connections, as opposed to what the terminal says:
 *
 * - single use of connect tokens: a token is admitted only if its time is within `maxAgeMs` of the
 *   gateway's clock and later than the last token admitted for that terminal (kept in memory, persisted);
 * - contacts: at each admitted connect, the gateway's time and the outbox head the terminal declared. The
 *   ledger uses them to judge when an offline sale can have been made (after the last contact whose head
 *   is below its number, before the first whose head reaches it) and which hotlist the terminal had then.
 *
 * A connect must not wait for a disk write (thousands of terminals reconnect together after an outage):
 * contacts are written in batches, one transaction every `flushMs`. A crash loses at most that much; a
 * lost contact only makes the bounds looser, and the in-memory last token time is read back from the
 * ledger after a restart.
 */

export type Admission = 'ok' | 'stale' | 'replayed';

/** Contacts waiting to be written while the ledger fails; beyond this the oldest are dropped. */
const MAX_PENDING_CONTACTS = 100_000;

export interface TerminalContactsOptions {
  readonly ledger: Ledger;
  readonly maxAgeMs: number;
  readonly log: Logger;
  readonly flushMs?: number;
}

export class TerminalContacts {
  readonly #o: TerminalContactsOptions;
  readonly #lastTokenMs = new Map<string, number>();
  #pending: TerminalContact[] = [];
  /** The ledger's last admitted token time, being read (one read per terminal at a time). */
  readonly #loading = new Map<string, Promise<number>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(o: TerminalContactsOptions) {
    this.#o = o;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#o.flushMs ?? 250);
    this.#timer.unref();
  }

  /** Judge a connect's claims (their signature already checked) and, when admitted, record the contact. */
  async admit(terminalId: string, claims: ConnectClaims, now: number): Promise<Admission> {
    if (Math.abs(now - claims.ms) > this.#o.maxAgeMs) return 'stale';
    // The ledger's record is read once per terminal, and the check and the update below run in the same
    // step after it: two connects with the same token cannot both pass, and the time only moves forward.
    if (!this.#lastTokenMs.has(terminalId)) {
      let loading = this.#loading.get(terminalId);
      if (!loading) {
        loading = this.#o.ledger.lastConnectTokenMs(terminalId).finally(() => this.#loading.delete(terminalId));
        this.#loading.set(terminalId, loading);
      }
      const stored = await loading;
      this.#lastTokenMs.set(terminalId, Math.max(this.#lastTokenMs.get(terminalId) ?? 0, stored));
    }
    if (claims.ms <= this.#lastTokenMs.get(terminalId)!) return 'replayed';
    this.#lastTokenMs.set(terminalId, claims.ms);
    this.#pending.push({ terminalId, headSeq: claims.head, at: now, tokenMs: claims.ms });
    return 'ok';
  }

  /** Write the contacts admitted since the last flush, in one transaction. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    try {
      await this.#o.ledger.recordContacts(batch);
    } catch (e) {
      // Kept for the next flush (a contact is evidence worth a retry), within a bound: the oldest go first.
      this.#pending = [...batch, ...this.#pending].slice(-MAX_PENDING_CONTACTS);
      this.#o.log.error({ err: e, contacts: batch.length }, 'terminal contacts not recorded; tried again at the next flush');
    }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
