import type { Logger } from '../../common/log.ts';
import { CODES, type RejectCode } from '../../protocol/codes.ts';
import { parseJson, Reply, type DebitReplyBody } from '../../protocol/messages.ts';
import type { Clock } from '../bindings.ts';
import type { RecordStore, SettleReply, TrustStore } from '../outbox-store.ts';
import type { OpenSigned } from './gateway-signed.ts';

/**
 * Reply intake and settlement: the gateway's signed answers are verified, then recorded together, one
 * outbox transaction for every reply that arrived in the same turn of the event loop (a backlog drains
 * at hundreds of replies a second). Only then does the sale move on and the window refill. A rejection
 * (2xx code) is final; a busy gateway's error leaves the record pending; `sync.missing` asks for records
 * again.
 */

/** A record the gateway settled, including ones whose sale already finished. */
export interface SettledSale {
  readonly txnId: string;
  readonly status: 'approved' | 'declined' | 'void' | 'rejected';
  readonly code: string | null;
}

/** Where the intake's results go: the sale under way, the forwarding window, the clock, the status bar. */
export interface ReplyIntakeDeps {
  readonly outbox: Pick<RecordStore, 'atomically' | 'settle' | 'entry' | 'reject'> & Pick<TrustStore, 'setGatewayTime'>;
  readonly terminalId: string;
  readonly clock: Pick<Clock, 'now'>;
  readonly open: OpenSigned;
  readonly log: Logger;
  readonly window: { answered(txnId: string): void; resendMissing(seqs: readonly number[]): void; pump(): void };
  readonly gatewayTime: { noteGatewayTime(gatewayAt: number): void; heard(gatewayAt: number, now: number): void };
  readonly status: { gatewayAnswered(): boolean; changed(): void };
  readonly settled: (s: SettledSale) => void;
  /** A debit reply recorded: the sale waiting for it, if any, finishes with it. */
  readonly replied: (reply: DebitReplyBody) => void;
  readonly rejected: (txnId: string, code: RejectCode) => void;
}

interface QueuedReply {
  readonly settle: SettleReply;
  readonly debit?: DebitReplyBody;
}

export class ReplyIntake {
  readonly #d: ReplyIntakeDeps;
  /** Verified replies waiting to be recorded together (one outbox transaction per turn). */
  #replies: QueuedReply[] = [];
  #latestGatewayAt = 0;
  #stopped = false;

  constructor(d: ReplyIntakeDeps) {
    this.#d = d;
  }

  onReply(payload: Buffer): void {
    const message = this.#d.open(payload);
    if (!message) return;
    let reply: Reply;
    try {
      reply = parseJson(Reply, message, 'reply');
    } catch (e) {
      this.#d.log.warn({ err: e }, 'reply of an unknown shape ignored');
      return;
    }
    const { terminalId, log } = this.#d;
    switch (reply.type) {
      case 'debit.reply': {
        const b = reply.body;
        if (b.terminalId !== terminalId) return void log.warn({ code: 'REPLY_UNEXPECTED', txnId: b.txnId }, 'reply for another terminal ignored');
        this.#queue({ settle: { kind: 'sale', txnId: b.txnId, status: b.status, code: b.code ?? null, taken: b.taken, guaranteed: b.guaranteed ?? 0, reply: message }, debit: b }, b.decidedAt);
        return;
      }
      case 'void.reply': {
        const b = reply.body;
        if (b.terminalId !== terminalId) return void log.warn({ code: 'REPLY_UNEXPECTED', txnId: b.txnId }, 'reply for another terminal ignored');
        // A refused cancellation keeps its reason with it: `refused:NOT_SAME_DAY`.
        const result = b.result === 'refused' ? `refused:${b.code ?? 'SALE_UNKNOWN'}` : b.result;
        this.#queue({ settle: { kind: 'void', txnId: b.txnId, result, reply: message } }, b.decidedAt);
        return;
      }
      case 'sync.missing':
        if (reply.body.terminalId === terminalId) this.#d.window.resendMissing(reply.body.seqs);
        this.#d.gatewayTime.noteGatewayTime(reply.body.decidedAt);
        return;
      case 'error':
        this.#d.gatewayTime.noteGatewayTime(reply.body.decidedAt);
        this.#onError(reply.corr, reply.body.code);
        return;
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  #queue(r: QueuedReply, gatewayAt: number): void {
    if (this.#replies.length === 0) setImmediate(() => this.#flush());
    this.#replies.push(r);
    this.#latestGatewayAt = Math.max(this.#latestGatewayAt, gatewayAt);
  }

  /** Record every reply that arrived in this turn in one transaction, then move the sale and the window on. */
  #flush(): void {
    const batch = this.#replies;
    this.#replies = [];
    if (batch.length === 0 || this.#stopped) return;
    const { outbox, log } = this.#d;
    const now = this.#d.clock.now();
    const gatewayAt = this.#latestGatewayAt;
    let fresh: Set<string>;
    try {
      fresh = new Set(
        outbox.atomically(() => {
          const ids = outbox.settle(batch.map((r) => r.settle), now);
          outbox.setGatewayTime({ gatewayAt, localAt: now });
          return ids;
        }),
      );
    } catch (e) {
      log.error({ err: e }, 'replies could not be recorded; the records stay pending and are resent');
      return;
    }
    this.#d.gatewayTime.heard(gatewayAt, now);
    const wasSilent = this.#d.status.gatewayAnswered();
    for (const r of batch) {
      const id = r.settle.txnId;
      this.#d.window.answered(id);
      if (!fresh.has(id)) {
        if (!outbox.entry(id)) log.warn({ code: 'REPLY_UNEXPECTED', txnId: id }, CODES.REPLY_UNEXPECTED.en);
        continue;
      }
      const s = r.settle;
      this.#d.settled(s.kind === 'sale' ? { txnId: id, status: s.status, code: s.code } : { txnId: id, status: 'void', code: s.result });
      if (r.debit) this.#d.replied(r.debit);
    }
    // The bar says what waits to be sent: settled records change it (an offline sale drained, say).
    if (wasSilent || fresh.size > 0) this.#d.status.changed();
    this.#d.window.pump();
  }

  #onError(corr: string, code: RejectCode): void {
    const { outbox, log } = this.#d;
    if (CODES[code].retryable) {
      log.info({ code, txnId: corr }, 'gateway busy; the record stays pending and is resent');
      return;
    }
    if (!corr || !outbox.reject(corr, code, this.#d.clock.now())) {
      // A record already answered keeps its first answer: a later rejection under its id (TXN_CONFLICT) is
      // about another request that used the id, not this one.
      if (corr && outbox.entry(corr)) log.warn({ code, txnId: corr }, 'the gateway rejected a request under the id of a record already answered; its first answer stands');
      else log.error({ code, corr }, 'the gateway rejected a request this terminal cannot match');
      return;
    }
    this.#d.window.answered(corr);
    log.error({ code, txnId: corr }, 'record rejected by the gateway; it will not be resent');
    this.#d.settled({ txnId: corr, status: 'rejected', code });
    this.#d.rejected(corr, code);
  }
}
