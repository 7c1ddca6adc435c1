import type { Logger } from '../../common/log.ts';
import { regionDateTime } from '../../common/paris-time.ts';
import type { Benefit } from '../../protocol/benefits.ts';
import type { Code } from '../../protocol/codes.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import type { TerminalBindings } from '../bindings.ts';
import type { TerminalConfig } from '../config.ts';
import { initialState, step, type Effect, type Event, type State } from '../lifecycle.ts';
import type { Link } from '../link.ts';
import type { OfflineDecision } from '../offline-policy.ts';
import type { OutboxEntry, RecordStore } from '../outbox-store.ts';
import type { CredentialDraft, Outcome, Sale } from '../sale.ts';
import { receipt, type Screen } from '../screens.ts';
import { codeOf } from './readers.ts';
import type { Tapped } from './trust.ts';

/**
 * Running the lifecycle (lifecycle.ts): events go in one at a time, and each step's effects are carried
 * out in order on the devices, the outbox and the link. One sale at a time.
 *
 * Online or offline is decided when the sale is committed: with the link up and the gateway answering,
 * the request goes to the gateway; otherwise (or after a request went unanswered) the sale is judged by
 * the signed offline policy and, if accepted, committed as an offline sale the gateway will settle.
 */

/** What the flow drives; each is a part of its own (runtime/*.ts), seen here through what the flow uses. */
export interface SaleFlowDeps {
  readonly config: Pick<TerminalConfig, 'terminalId' | 'replyTimeoutMs'>;
  readonly bindings: Pick<TerminalBindings, 'clock' | 'printer'>;
  readonly outbox: Pick<RecordStore, 'atomically'>;
  readonly link: Pick<Link, 'isUp'>;
  readonly log: Logger;
  readonly newTxnId: () => string;
  readonly records: { sale(txnId: string, sale: Sale, credential: CredentialDraft, mode: 'online' | 'offline'): OutboxEntry; voidSale(target: string, reason: 'timeout'): OutboxEntry };
  readonly window: { send(entry: OutboxEntry): boolean; pump(): void };
  readonly trust: { judge(sale: Sale, credential: CredentialDraft, tapped: Tapped | undefined): OfflineDecision };
  readonly readers: { read(): void; stopReading(): void; askPin(txnId: string, sale: Sale): void; stopPin(): void; readonly tapped: Tapped | undefined };
  readonly status: { show(screen: Screen): void; readonly gatewaySilent: boolean; gatewayWentSilent(): void };
}

export class SaleFlow {
  readonly #d: SaleFlowDeps;
  #state: State = initialState;
  readonly #events: Event[] = [];
  #dispatching = false;
  #resolveSale: ((o: Outcome) => void) | undefined;
  #cancelReplyTimer: (() => void) | undefined;
  #stopped = false;

  constructor(d: SaleFlowDeps) {
    this.#d = d;
  }

  get state(): State {
    return this.#state;
  }

  /** Sell `amount` (cents, or entries) of `benefit`; resolves when the sale is finished. */
  sale(benefit: Benefit, amount: number): Promise<Outcome> {
    if (this.#state.tag === 'finished') this.dispatch({ type: 'RESET' });
    if (this.#state.tag !== 'idle' || this.#stopped) return Promise.reject(new PasserelleError('SALE_IN_PROGRESS'));
    return new Promise((resolve) => {
      this.#resolveSale = resolve;
      this.dispatch({ type: 'START', benefit, amount });
    });
  }

  /** Events raised while effects run (a read failing at once, a commit) wait their turn: one step at a time. */
  dispatch(event: Event): void {
    this.#events.push(event);
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (let e = this.#events.shift(); e; e = this.#events.shift()) {
        const s = step(this.#state, e);
        this.#state = s.state;
        for (const effect of s.effects) this.#run(effect);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelReplyTimer?.();
  }

  #run(effect: Effect): void {
    const { readers } = this.#d;
    switch (effect.kind) {
      case 'show':
        this.#d.status.show(effect.screen);
        return;
      case 'readCredential':
        readers.read();
        return;
      case 'stopReading':
        readers.stopReading();
        return;
      case 'askPin':
        readers.askPin(effect.txnId, effect.sale);
        return;
      case 'commit':
        this.#commit(effect.txnId, effect.sale, effect.credential);
        return;
      case 'startReplyTimer': {
        const txnId = effect.txnId;
        this.#cancelReplyTimer = this.#d.bindings.clock.setTimer(this.#d.config.replyTimeoutMs, () => this.dispatch({ type: 'REPLY_TIMEOUT', txnId }));
        return;
      }
      case 'stopReplyTimer':
        this.#cancelReplyTimer?.();
        return;
      case 'fallback':
        this.#d.status.gatewayWentSilent();
        this.#d.log.warn({ txnId: effect.txnId }, 'no reply in time: the request is voided and the sale judged offline');
        this.#judgeOffline(this.#d.newTxnId(), effect.sale, effect.credential, effect.txnId);
        return;
      case 'finished':
        this.#finished(effect.outcome);
        return;
    }
  }

  #finished(outcome: Outcome): void {
    this.#d.readers.stopPin();
    const resolve = this.#resolveSale;
    this.#resolveSale = undefined;
    const lines = receipt(outcome, { terminalId: this.#d.config.terminalId, at: regionDateTime(this.#d.bindings.clock.now()) });
    if (lines) this.#d.bindings.printer?.print(lines);
    resolve?.(outcome);
  }

  /**
   * Commit the sale, online when the link is up and the gateway has been answering, otherwise judged by
   * the offline policy. Nothing is sent or shown before the record is on disk.
   */
  #commit(txnId: string, sale: Sale, credential: CredentialDraft): void {
    if (!this.#d.link.isUp() || this.#d.status.gatewaySilent) {
      this.#judgeOffline(txnId, sale, credential);
      return;
    }
    let entry: OutboxEntry;
    try {
      entry = this.#d.records.sale(txnId, sale, credential, 'online');
    } catch (e) {
      this.#d.log.warn({ err: e, txnId }, 'sale not recorded');
      this.dispatch({ type: 'COMMIT_FAILED', code: codeOf(e, 'OUTBOX_FULL') });
      return;
    }
    this.dispatch({ type: 'COMMITTED', txnId });
    this.#d.window.send(entry);
  }

  /**
   * Judge the sale by the signed offline policy and, when it passes, commit it as accepted offline. After
   * a reply timeout, `voidTarget` is the unanswered online request: its void and the offline sale are
   * committed in one transaction, so the sale can never count twice.
   */
  #judgeOffline(txnId: string, sale: Sale, credential: CredentialDraft, voidTarget?: string): void {
    const { records, log } = this.#d;
    const decision = this.#d.trust.judge(sale, credential, this.#d.readers.tapped);
    try {
      this.#d.outbox.atomically(() => {
        if (voidTarget) records.voidSale(voidTarget, 'timeout');
        if (decision.ok) records.sale(txnId, sale, credential, 'offline');
      });
    } catch (e) {
      log.warn({ err: e, txnId }, 'sale not recorded');
      this.dispatch(voidTarget ? { type: 'OFFLINE_REFUSED', code: codeOf(e, 'OUTBOX_FULL') } : { type: 'COMMIT_FAILED', code: codeOf(e, 'OUTBOX_FULL') });
      return;
    }
    this.#d.window.pump();
    if (decision.ok) {
      log.info({ txnId, voided: voidTarget }, 'sale accepted offline');
      this.dispatch({ type: 'OFFLINE_ACCEPTED', txnId });
    } else {
      const code: Code = voidTarget ? 'NO_REPLY' : decision.code;
      log.info({ code, offlineCode: decision.code, voided: voidTarget }, 'sale refused offline');
      this.dispatch({ type: 'OFFLINE_REFUSED', code });
    }
  }
}
