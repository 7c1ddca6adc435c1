import type { Logger } from '../common/log.ts';
import type { Benefit } from '../protocol/benefits.ts';
import { defaultVerifier, type Signer, type Verifier } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { VerifiedRoots } from '../protocol/frame.ts';
import { uuidv7 } from '../protocol/uuid7.ts';
import { regionDate } from '../common/paris-time.ts';
import type { TerminalBindings } from './bindings.ts';
import type { TerminalConfig } from './config.ts';
import type { State } from './lifecycle.ts';
import type { Link, LinkRefusal } from './link.ts';
import type { OutboxStats, OutboxStore, SaleEntry } from './outbox-store.ts';
import type { Outcome } from './sale.ts';
import { screens, type LinkStatus } from './screens.ts';
import { Forwarder } from './runtime/forwarding.ts';
import { openSignedByGateway } from './runtime/gateway-signed.ts';
import { CredentialReaders } from './runtime/readers.ts';
import { RecordWriter } from './runtime/records.ts';
import { recoverAfterRestart } from './runtime/recovery.ts';
import { ReplyIntake, type SettledSale } from './runtime/replies.ts';
import { SaleFlow } from './runtime/sale-flow.ts';
import { StatusBar } from './runtime/status.ts';
import { Trust } from './runtime/trust.ts';

export type { SettledSale } from './runtime/replies.ts';

/**
 * The terminal runtime: drives the pure lifecycle (lifecycle.ts) by carrying out its effects on the
 * devices, the outbox and the link, and feeds it the events that come back. One sale at a time.
 *
 * Online or offline is decided when the sale is committed: with the link up, the request goes to the
 * gateway; with it down (or after a request went unanswered), the sale is judged by the signed offline
 * policy and, if accepted, committed as an offline sale the gateway will settle. Records are forwarded in
 * sequence order, at most `syncWindow` unacknowledged at a time, each resent with the same bytes until
 * the gateway answers it.
 *
 * This class only composes the parts, each a job of its own under runtime/: the sale flow and the device
 * read loops (sale-flow.ts, readers.ts), building and signing records (records.ts), the forwarding window
 * (forwarding.ts), reply intake and settlement (replies.ts), trust in what the gateway pushes and in its
 * clock (trust.ts, gateway-signed.ts), and the screen's status bar (status.ts).
 */

export interface RuntimeDeps {
  readonly config: TerminalConfig;
  readonly bindings: TerminalBindings;
  readonly outbox: OutboxStore;
  readonly link: Link;
  readonly signer: Signer;
  /** The gateway's reply-signing public key, received at provisioning. */
  readonly gatewaySignPublicKey: Uint8Array;
  /** The Region's card issuer public key, received at provisioning: the app's QR codes are signed with it. */
  readonly issuerPublicKey: Uint8Array;
  /** node:crypto (defaultVerifier) unless given: the replies, pushed documents, QR codes and cards are checked with it. */
  readonly verifier?: Verifier;
  readonly roots?: VerifiedRoots;
  readonly newTxnId?: () => string;
  readonly log: Logger;
  /** How long the youth has to type the code. */
  readonly pinTimeoutMs?: number;
}

export class TerminalRuntime {
  readonly #d: RuntimeDeps;
  readonly #records: RecordWriter;
  readonly #window: Forwarder;
  readonly #trust: Trust;
  readonly #status: StatusBar;
  readonly #flow: SaleFlow;
  readonly #replies: ReplyIntake;
  readonly #readers: CredentialReaders;
  /** Called when any record is settled, including ones whose sale already finished. */
  onSettled: ((s: SettledSale) => void) | undefined;
  readonly #settledWaiters = new Map<string, (s: SettledSale) => void>();

  constructor(d: RuntimeDeps) {
    this.#d = d;
    const { config, bindings, outbox, link, log } = d;
    const { clock } = bindings;
    const { terminalId } = config;
    const verifier = d.verifier ?? defaultVerifier();
    const newTxnId = d.newTxnId ?? (() => uuidv7(clock.now()));
    const open = openSignedByGateway({ gatewaySignPublicKey: d.gatewaySignPublicKey, verifier, roots: d.roots ?? new VerifiedRoots(256), log });
    const records = (this.#records = new RecordWriter({ outbox, signer: d.signer, terminalId, clock, newTxnId }));
    // Pushed settings apply at their next use: the flow and the forwarder read these at each timer they set.
    const live = {
      terminalId,
      syncWindow: config.syncWindow,
      get replyTimeoutMs() {
        return (outbox.settings() ?? config).replyTimeoutMs;
      },
      get resendIntervalMs() {
        return (outbox.settings() ?? config).resendIntervalMs;
      },
    };
    const window = (this.#window = new Forwarder({ outbox, link, clock, config: live, log }));
    const trust = (this.#trust = new Trust({ terminalId, outbox, link, clock, open, log }));
    const status = (this.#status = new StatusBar({ link, outbox, display: bindings.display, clock, idle: () => this.#flow.state.tag === 'idle' }));
    const readers = (this.#readers = new CredentialReaders({
      bindings,
      terminalId,
      issuerPublicKey: d.issuerPublicKey,
      verifier,
      newTxnId,
      pinTimeoutMs: d.pinTimeoutMs,
      state: () => this.#flow.state,
      dispatch: (e) => this.#flow.dispatch(e),
    }));
    const flow = (this.#flow = new SaleFlow({ config: live, bindings, outbox, link, log, newTxnId, records, window, trust, readers, status }));
    this.#replies = new ReplyIntake({
      outbox,
      terminalId,
      clock,
      open,
      log,
      window,
      gatewayTime: trust,
      status,
      settled: (s) => {
        this.#settledWaiters.get(s.txnId)?.(s);
        this.onSettled?.(s);
      },
      replied: (reply) => flow.dispatch({ type: 'REPLY', reply }),
      rejected: (txnId, code) => flow.dispatch({ type: 'REJECTED', txnId, code }),
    });
  }

  get state(): State {
    return this.#flow.state;
  }

  start(): void {
    const recovered = recoverAfterRestart({ outbox: this.#d.outbox, records: this.#records, log: this.#d.log });
    this.#d.link.start({
      reply: (payload) => this.#replies.onReply(payload),
      push: (topic, payload, retained) => this.#trust.onPush(topic, payload, retained),
      up: () => {
        this.#window.linkUp();
        this.#status.changed();
      },
      down: () => this.#status.changed(),
      refused: () => this.#status.changed(),
    });
    this.#window.start();
    this.#status.show(recovered ?? screens.idle());
  }

  /** Sell `amount` (cents, or entries) of `benefit`; resolves when the sale is finished. */
  sale(benefit: Benefit, amount: number): Promise<Outcome> {
    return this.#flow.sale(benefit, amount);
  }

  /**
   * The cashier cancels the last sale the same day, its result already shown: a void record (`cancelled`)
   * that the gateway decides from its own records, as a partner's cancellation (same day, not guaranteed,
   * not already corrected). Waits up to `replyTimeoutMs` for the answer, shown on the display; without one,
   * the cancellation stays queued and is decided when it reaches the gateway. Refused at once, recording
   * nothing, while a sale runs, when the last sale was not approved, is already cancelled, or is not of today.
   */
  async cancelLastSale(): Promise<{ readonly result: string; readonly sale: SaleEntry }> {
    const tag = this.#flow.state.tag;
    if (tag !== 'idle' && tag !== 'finished') throw new PasserelleError('SALE_IN_PROGRESS');
    const { outbox, bindings } = this.#d;
    const last = outbox.lastSale();
    if (!last) throw new PasserelleError('SALE_UNKNOWN', 'no sale on this terminal yet');
    const approved = last.state === 'replied' ? last.status === 'approved' && !last.voidedBy : last.state === 'pending' && last.mode === 'offline';
    if (!approved) throw new PasserelleError('SALE_UNKNOWN', 'the last sale was not approved: there is nothing to cancel');
    // Already cancelled, or a cancellation on its way; one the gateway refused or rejected may be asked again.
    const earlier = outbox.voidOf(last.txnId);
    if (earlier && earlier.state !== 'rejected' && !earlier.code?.startsWith('refused:')) throw new PasserelleError('ALREADY_CORRECTED', 'the last sale is already cancelled');
    if (regionDate(last.createdAt) !== regionDate(bindings.clock.now())) throw new PasserelleError('NOT_SAME_DAY', `the last sale was made on ${regionDate(last.createdAt)}`);
    const entry = this.#records.voidSale(last.txnId, 'cancelled');
    this.#status.show(screens.cancelling(last));
    const settled = new Promise<SettledSale | undefined>((resolve) => {
      const cancelTimer = bindings.clock.setTimer(this.settings().replyTimeoutMs, () => resolve(undefined));
      this.#settledWaiters.set(entry.txnId, (s) => {
        cancelTimer();
        resolve(s);
      });
    });
    this.#window.send(entry);
    const s = await settled;
    this.#settledWaiters.delete(entry.txnId);
    // `undone`, `prevented`, `refused:<code>` from the gateway; `rejected:<code>` when it refused the record
    // itself (never resent); `queued` when no answer came in time (it is decided when it arrives).
    const result = s === undefined ? 'queued' : s.status === 'rejected' ? `rejected:${s.code ?? 'REQUEST_REJECTED'}` : (s.code ?? 'queued');
    this.#d.log.info({ txnId: entry.txnId, target: last.txnId, result }, "cashier's cancellation of the last sale");
    // A sale started meanwhile keeps its screen.
    const now = this.#flow.state.tag;
    if (now === 'idle' || now === 'finished') this.#status.show(screens.cancelled(last, result));
    return { result, sale: last };
  }

  /** The cashier cancels; effective only before the sale is committed. */
  cancel(): void {
    this.#flow.dispatch({ type: 'CANCEL' });
  }

  /** The settings in force: the latest the gateway pushed, or those of the config file until a first push. */
  settings(): Settings {
    return settingsOf(this.#d.outbox, this.#d.config);
  }

  linkUp(): boolean {
    return this.#d.link.isUp();
  }

  outboxStats(): OutboxStats {
    return this.#d.outbox.stats();
  }

  /** The link as the status bar tells it: down (refused by the broker, or not reached), up with the gateway answering, or up with it silent. */
  linkStatus(): LinkStatus {
    return this.#status.linkStatus();
  }

  /** Why the broker refused the terminal's last connect, until one is accepted. */
  linkRefusal(): LinkRefusal | undefined {
    return this.#d.link.refusal();
  }

  /**
   * Stop for a software update: refused while any record waits to be acknowledged, so an update never
   * strands a sale. A restart keeps the queue in any case (it is on disk); this keeps it moving.
   */
  async stopForUpdate(): Promise<void> {
    const st = this.#d.outbox.stats();
    if (st.pending > 0) throw new PasserelleError('QUEUE_NOT_EMPTY', `${st.pending} records wait to be acknowledged by the gateway`);
    const tag = this.#flow.state.tag;
    if (tag !== 'idle' && tag !== 'finished') throw new PasserelleError('SALE_IN_PROGRESS');
    await this.stop();
  }

  async stop(): Promise<void> {
    this.#flow.stop();
    this.#window.stop();
    this.#replies.stop();
    this.#readers.stop();
    await this.#d.link.stop();
  }
}

/** What the gateway may set for a terminal (protocol/terminal-settings.ts); `version` null: the config file's. */
export interface Settings {
  readonly version: number | null;
  readonly benefits: readonly Benefit[];
  readonly replyTimeoutMs: number;
  readonly resendIntervalMs: number;
  readonly heartbeatS: number;
}

function settingsOf(outbox: Pick<OutboxStore, 'settings'>, config: TerminalConfig): Settings {
  const pushed = outbox.settings();
  const from = pushed ?? config;
  return { version: pushed?.version ?? null, benefits: from.benefits, replyTimeoutMs: from.replyTimeoutMs, resendIntervalMs: from.resendIntervalMs, heartbeatS: from.heartbeatS };
}
