import type { Logger } from '../common/log.ts';
import { regionDate, regionDateTime, startOfRegionDay } from '../common/paris-time.ts';
import type { Benefit } from '../protocol/benefits.ts';
import { isValidCardNumber } from '../protocol/card.ts';
import { parseQrCredential } from '../protocol/qr-payload.ts';
import { CODES, type Code } from '../protocol/codes.ts';
import { naclVerifier, type Signer, type Verifier } from '../protocol/crypto.ts';
import { debitRequest, encodeJson, voidRequest } from '../protocol/debit.ts';
import { uuidv7 } from '../protocol/uuid7.ts';
import { isPasserelleError, PasserelleError } from '../protocol/errors.ts';
import { decodeFrame, decodeFrameWithin, encodeDirect, verifyFrame, VerifiedRoots } from '../protocol/frame.ts';
import { parseJson, Reply, type DebitReplyBody, type DebitRequestBody, type VoidRequestBody } from '../protocol/messages.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, HotlistDoc, hotlistTag, MAX_PUSH_BYTES, POLICY_TOPIC, PolicyDoc, type HotlistReason } from '../protocol/offline.ts';
import { formatAmount, receipt, screens, statusLine, type LinkStatus, type Screen } from './screens.ts';
import type { TerminalBindings } from './bindings.ts';
import type { TerminalConfig } from './config.ts';
import { initialState, step, type Effect, type Event, type State } from './lifecycle.ts';
import type { CredentialDraft, Outcome, Sale } from './sale.ts';
import type { Link, LinkRefusal } from './link.ts';
import { offlineDecision, type OfflineView } from './offline-policy.ts';
import type { OutboxEntry, OutboxStore, SettleReply } from './outbox-store.ts';

/**
 * The terminal runtime: drives the pure lifecycle (lifecycle.ts) by carrying out its effects on the
 * devices, the outbox and the link, and feeds it the events that come back. One sale at a time.
 *
 * Online or offline is decided when the sale is committed: with the link up, the request goes to the
 * gateway; with it down (or after a request went unanswered), the sale is judged by the signed offline
 * policy and, if accepted, committed as an offline sale the gateway will settle. Records are forwarded in
 * sequence order, at most `syncWindow` unacknowledged at a time, each resent with the same bytes until
 * the gateway answers it.
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
  /** tweetnacl by default; simulators running hundreds of terminals pass node:crypto. */
  readonly verifier?: Verifier;
  readonly roots?: VerifiedRoots;
  readonly newTxnId?: () => string;
  readonly log: Logger;
  /** How long the youth has to type the code. */
  readonly pinTimeoutMs?: number;
}

/** Pause after a failed device read before reading that device again. */
const READ_RETRY_DELAY_MS = 50;

export interface SettledSale {
  readonly txnId: string;
  readonly status: 'approved' | 'declined' | 'void' | 'rejected';
  readonly code: string | null;
}

interface QueuedReply {
  readonly settle: SettleReply;
  readonly debit?: DebitReplyBody;
}

export class TerminalRuntime {
  readonly #d: RuntimeDeps;
  readonly #verifier: Verifier;
  readonly #roots: VerifiedRoots;
  readonly #newTxnId: () => string;
  #state: State = initialState;
  readonly #events: Event[] = [];
  #dispatching = false;
  #resolveSale: ((o: Outcome) => void) | undefined;
  #reading: AbortController | undefined;
  #pin: AbortController | undefined;
  #cancelReplyTimer: (() => void) | undefined;
  #cancelResendTimer: (() => void) | undefined;
  /** Records handed to the link and not yet answered: when (monotonic ms), and their frame for a resend. */
  readonly #inFlight = new Map<string, { sentAt: number; frame: Buffer }>();
  /** The highest sequence number handed to the link since it came up: the window fills from there. */
  #sentThrough = 0;
  /** Verified replies waiting to be recorded together (one outbox transaction per turn). */
  #replies: QueuedReply[] = [];
  #latestGatewayAt = 0;
  /** An online request went unanswered: sell offline until the gateway answers again. */
  #degraded = false;
  /** The screen last drawn, with its status bar: drawn again when the link's state changes. */
  #screen: Screen | undefined;
  /** The last card read: the sale it signed, and its hotlist tag. */
  #tapped: { readonly ref: string; readonly tag: string } | undefined;
  /** Monotonic time of the last signed gateway time heard in this run. */
  #contactMono: number | undefined;
  #stopped = false;
  /** Called when any record is settled, including ones whose sale already finished. */
  onSettled: ((s: SettledSale) => void) | undefined;

  constructor(d: RuntimeDeps) {
    this.#d = d;
    this.#verifier = d.verifier ?? naclVerifier;
    this.#roots = d.roots ?? new VerifiedRoots(256);
    this.#newTxnId = d.newTxnId ?? (() => uuidv7(d.bindings.clock.now()));
  }

  get state(): State {
    return this.#state;
  }

  start(): void {
    const recovered = this.#recover();
    this.#d.link.start({
      reply: (payload) => this.#onReply(payload),
      push: (topic, payload, retained) => this.#onPush(topic, payload, retained),
      up: () => {
        this.#inFlight.clear();
        this.#sentThrough = 0;
        this.#pump();
        this.#statusChanged();
      },
      down: () => this.#statusChanged(),
      refused: () => this.#statusChanged(),
    });
    this.#scheduleResend();
    this.#show(recovered ?? screens.idle());
  }

  /**
   * After a restart: an online sale still waiting for its reply never had its result shown (the power
   * went during the sale), so it is voided: the gateway undoes it if it was applied. The last sale's
   * state is shown again, so a result committed just before the cut is not lost to the cashier.
   */
  #recover(): Screen | undefined {
    const interrupted = this.#d.outbox.unvoidedOnline();
    if (interrupted.length > 0) {
      this.#d.outbox.atomically(() => {
        for (const e of interrupted) this.#appendVoid(e.txnId, 'interrupted');
      });
      this.#d.log.warn({ voided: interrupted.map((e) => e.txnId) }, 'sales interrupted before their result was shown are voided');
    }
    const last = this.#d.outbox.lastSale();
    return last ? screens.lastSale(last) : undefined;
  }

  /** Sell `amount` (cents, or entries) of `benefit`; resolves when the sale is finished. */
  sale(benefit: Benefit, amount: number): Promise<Outcome> {
    if (this.#state.tag === 'finished') this.#dispatch({ type: 'RESET' });
    if (this.#state.tag !== 'idle' || this.#stopped) return Promise.reject(new PasserelleError('SALE_IN_PROGRESS'));
    return new Promise((resolve) => {
      this.#resolveSale = resolve;
      this.#dispatch({ type: 'START', benefit, amount });
    });
  }

  /** The cashier cancels; effective only before the sale is committed. */
  cancel(): void {
    this.#dispatch({ type: 'CANCEL' });
  }

  linkUp(): boolean {
    return this.#d.link.isUp();
  }

  outboxStats() {
    return this.#d.outbox.stats();
  }

  #dispatch(event: Event): void {
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

  /** The link as the status bar tells it: down (refused by the broker, or not reached), up with the gateway answering, or up with it silent. */
  linkStatus(): LinkStatus {
    if (!this.#d.link.isUp()) {
      const refusal = this.#d.link.refusal();
      return refusal ? { state: 'refused', code: refusal.code } : { state: 'offline' };
    }
    return { state: this.#degraded ? 'silent' : 'online' };
  }

  /** Why the broker refused the terminal's last connect, until one is accepted. */
  linkRefusal(): LinkRefusal | undefined {
    return this.#d.link.refusal();
  }

  #footer(): string {
    return statusLine({ link: this.linkStatus(), ...this.#d.outbox.stats() }, this.#d.bindings.clock.now());
  }

  /** Draw a screen with the status bar (link, records waiting and the oldest one's age). */
  #show(screen: Screen | undefined): void {
    if (!screen) return;
    this.#screen = { ...screen, footer: this.#footer() };
    this.#d.bindings.display.show(this.#screen);
  }

  /**
   * The link or the gateway's answering changed: the idle screen is drawn again; any other screen keeps
   * its message and gets the new status bar, so the bar never contradicts what is shown above it.
   */
  #statusChanged(): void {
    if (this.#state.tag === 'idle') this.#show(screens.idle());
    else if (this.#screen && this.#screen.footer !== this.#footer()) this.#show(this.#screen);
  }

  #run(effect: Effect): void {
    switch (effect.kind) {
      case 'show':
        this.#show(effect.screen);
        return;
      case 'readCredential':
        this.#readCredential();
        return;
      case 'stopReading':
        this.#reading?.abort();
        return;
      case 'askPin':
        this.#askPin(effect.txnId, effect.sale);
        return;
      case 'commit':
        this.#commit(effect.txnId, effect.sale, effect.credential);
        return;
      case 'startReplyTimer': {
        const txnId = effect.txnId;
        this.#cancelReplyTimer = this.#d.bindings.clock.setTimer(this.#d.config.replyTimeoutMs, () => this.#dispatch({ type: 'REPLY_TIMEOUT', txnId }));
        return;
      }
      case 'stopReplyTimer':
        this.#cancelReplyTimer?.();
        return;
      case 'fallback':
        this.#degraded = true;
        this.#d.log.warn({ txnId: effect.txnId }, 'no reply in time: the request is voided and the sale judged offline');
        this.#judgeOffline(this.#newTxnId(), effect.sale, effect.credential, effect.txnId);
        return;
      case 'finished': {
        this.#pin?.abort();
        const resolve = this.#resolveSale;
        this.#resolveSale = undefined;
        const lines = receipt(effect.outcome, { terminalId: this.#d.config.terminalId, at: regionDateTime(this.#d.bindings.clock.now()) });
        if (lines) this.#d.bindings.printer?.print(lines);
        resolve?.(effect.outcome);
        return;
      }
    }
  }

  /**
   * Read both devices until one yields a credential. Each device has its own loop: a failed read on one
   * (a card pulled away too soon, a blurred QR code) is shown and that device reads again, without
   * cancelling a read under way on the other. The first success wins; the other read is aborted.
   */
  #readCredential(): void {
    if (this.#reading && !this.#reading.signal.aborted) return;
    const ac = new AbortController();
    this.#reading = ac;
    const { nfc, qr } = this.#d.bindings;
    const sale = this.#state.tag === 'awaitingCredential' ? this.#state.sale : undefined;
    void this.#readLoop(ac.signal, 'CARD_READ_FAILED', async (signal): Promise<Event> => {
      // The id is minted before the tap: the card signs the sale under it (its proof for the gateway).
      const txnId = this.#newTxnId();
      const toSign = sale && { ref: txnId, terminalId: this.#d.config.terminalId, benefit: sale.benefit, amount: sale.amount, unit: sale.unit };
      const c = await nfc.waitForCard(signal, toSign);
      if (!isValidCardNumber(c.cardNumber)) throw new PasserelleError('CARD_READ_FAILED', 'the card returned an invalid number');
      if (!c.proof) throw new PasserelleError('CARD_READ_FAILED', 'the card did not sign the sale');
      // The hotlist names cards by their chip key's tag: kept for the offline judgement of this sale.
      this.#tapped = { ref: txnId, tag: hotlistTag(c.cardPublicKey) };
      return { type: 'CARD', cardNumber: c.cardNumber, txnId, proof: c.proof };
    });
    void this.#readLoop(ac.signal, 'QR_UNREADABLE', async (signal): Promise<Event> => {
      const text = await qr.waitForCode(signal);
      const nowMs = this.#d.bindings.clock.now();
      const credential = parseQrCredential(text, { issuerPublicKey: this.#d.issuerPublicKey, nowMs, verifier: this.#verifier });
      return { type: 'QR', cardNumber: credential.cardNumber, txnId: this.#newTxnId() };
    });
  }

  async #readLoop(signal: AbortSignal, fallback: Code, read: (signal: AbortSignal) => Promise<Event>): Promise<void> {
    while (!signal.aborted) {
      try {
        const event = await read(signal);
        if (!signal.aborted) this.#dispatch(event);
        return;
      } catch (err) {
        if (signal.aborted) return;
        this.#dispatch({ type: 'CREDENTIAL_FAILED', code: codeOf(err, fallback) });
        // A device that fails at once every time must not spin the event loop.
        await new Promise<void>((resolve) => this.#d.bindings.clock.setTimer(READ_RETRY_DELAY_MS, resolve));
      }
    }
  }

  #askPin(txnId: string, sale: Sale): void {
    const ac = new AbortController();
    this.#pin = ac;
    const cancelTimeout = this.#d.bindings.clock.setTimer(this.#d.pinTimeoutMs ?? 60_000, () =>
      ac.abort(new PasserelleError('PIN_ENTRY_TIMEOUT')),
    );
    this.#d.bindings.pad.requestSealedCode(txnId, `Montant : ${formatAmount(sale.amount, sale.unit)}\nCode secret :`, ac.signal).then(
      (pinBlock) => {
        cancelTimeout();
        if (!ac.signal.aborted) this.#dispatch({ type: 'PIN_SEALED', pinBlock });
      },
      (err: unknown) => {
        cancelTimeout();
        const reason: unknown = ac.signal.aborted ? ac.signal.reason : err;
        if (this.#state.tag === 'awaitingPin') this.#dispatch({ type: 'PIN_FAILED', code: codeOf(reason, 'PIN_ENTRY_CANCELLED') });
      },
    );
  }

  /**
   * Commit the sale, online when the link is up and the gateway has been answering, otherwise judged by
   * the offline policy. Nothing is sent or shown before the record is on disk.
   */
  #commit(txnId: string, sale: Sale, credential: CredentialDraft): void {
    if (!this.#d.link.isUp() || this.#degraded) {
      this.#judgeOffline(txnId, sale, credential);
      return;
    }
    let entry: OutboxEntry;
    try {
      entry = this.#appendSale(txnId, sale, credential, 'online');
    } catch (e) {
      this.#d.log.warn({ err: e, txnId }, 'sale not recorded');
      this.#dispatch({ type: 'COMMIT_FAILED', code: codeOf(e, 'OUTBOX_FULL') });
      return;
    }
    this.#dispatch({ type: 'COMMITTED', txnId });
    this.#send(entry);
  }

  /**
   * Judge the sale by the signed offline policy and, when it passes, commit it as accepted offline. After
   * a reply timeout, `voidTarget` is the unanswered online request: its void and the offline sale are
   * committed in one transaction, so the sale can never count twice.
   */
  #judgeOffline(txnId: string, sale: Sale, credential: CredentialDraft, voidTarget?: string): void {
    const decision = offlineDecision({ credential: credential.kind, unit: sale.unit, amount: sale.amount }, this.#offlineView(credential));
    try {
      this.#d.outbox.atomically(() => {
        if (voidTarget) this.#appendVoid(voidTarget, 'timeout');
        if (decision.ok) this.#appendSale(txnId, sale, credential, 'offline');
      });
    } catch (e) {
      this.#d.log.warn({ err: e, txnId }, 'sale not recorded');
      this.#dispatch(voidTarget ? { type: 'OFFLINE_REFUSED', code: codeOf(e, 'OUTBOX_FULL') } : { type: 'COMMIT_FAILED', code: codeOf(e, 'OUTBOX_FULL') });
      return;
    }
    this.#pump();
    if (decision.ok) {
      this.#d.log.info({ txnId, voided: voidTarget }, 'sale accepted offline');
      this.#dispatch({ type: 'OFFLINE_ACCEPTED', txnId });
    } else {
      const code: Code = voidTarget ? 'NO_REPLY' : decision.code;
      this.#d.log.info({ code, offlineCode: decision.code, voided: voidTarget }, 'sale refused offline');
      this.#dispatch({ type: 'OFFLINE_REFUSED', code });
    }
  }

  #offlineView(credential: CredentialDraft): OfflineView {
    const cardNumber = credential.cardNumber;
    const o = this.#d.outbox;
    const clock = this.#d.bindings.clock;
    const now = clock.now();
    const st = o.stats();
    const contact = o.gatewayTime();
    return {
      policy: o.policy(),
      hotlist: o.hotlistState(),
      cardHotlisted: this.#hotlisted(credential),
      cardToday: o.offlineSinceForCard(cardNumber, startOfRegionDay(regionDate(now))),
      pending: { count: st.offlinePending, cents: st.offlinePendingCents },
      clock: {
        now,
        ...(contact ? { lastContact: contact } : {}),
        ...(this.#contactMono !== undefined ? { monotonicSinceContactMs: clock.monotonicMs() - this.#contactMono } : {}),
      },
    };
  }

  /**
   * The hotlist names cards by their chip key's tag, which only the card just read gives. A QR code is
   * refused offline before the hotlist matters; a card whose tag was not kept (never, by construction) is
   * treated as listed rather than let through.
   */
  #hotlisted(credential: CredentialDraft): HotlistReason | null {
    if (credential.kind === 'qr') return null;
    const t = this.#tapped;
    return t !== undefined && t.ref === credential.proof.ref ? this.#d.outbox.hotlisted(t.tag) : 'soft';
  }

  #appendSale(txnId: string, sale: Sale, credential: CredentialDraft, mode: 'online' | 'offline'): OutboxEntry {
    const o = this.#d.outbox;
    return o.append((seq, prev) => {
      const createdAt = this.#d.bindings.clock.now();
      const body: DebitRequestBody = {
        txnId,
        terminalId: this.#d.config.terminalId,
        seq,
        prev,
        createdAt,
        mode,
        hotlist: o.hotlistState().version,
        policy: o.policy()?.version ?? 0,
        credential,
        benefit: sale.benefit,
        amount: sale.amount,
        unit: sale.unit,
      };
      const message = encodeJson(debitRequest(body));
      return { txnId, kind: 'sale', mode, card: credential.cardNumber, benefit: sale.benefit, unit: sale.unit, amount: sale.amount, createdAt, message, frame: encodeDirect(message, this.#d.signer.sign(message)) };
    });
  }

  /** A void is committed even when the outbox is at its limit: it can only take value off the gateway. */
  #appendVoid(target: string, reason: VoidRequestBody['reason']): OutboxEntry {
    const txnId = this.#newTxnId();
    return this.#d.outbox.append(
      (seq, prev) => {
        const createdAt = this.#d.bindings.clock.now();
        const body: VoidRequestBody = { txnId, terminalId: this.#d.config.terminalId, seq, prev, createdAt, target, reason };
        const message = encodeJson(voidRequest(body));
        return { txnId, kind: 'void', target, createdAt, message, frame: encodeDirect(message, this.#d.signer.sign(message)) };
      },
      { ignoreLimit: true },
    );
  }

  /** Hand a record to the link now (a new online sale goes at once, ahead of any backlog). */
  #send(entry: OutboxEntry): boolean {
    if (!this.#d.link.send(entry.frame)) return false;
    this.#inFlight.set(entry.txnId, { sentAt: this.#d.bindings.clock.monotonicMs(), frame: entry.frame });
    return true;
  }

  /**
   * Forward records in sequence order, at most `syncWindow` unanswered at a time: the window is filled
   * with the next pending records after the last one sent. Called when the link comes up, after each
   * commit and each batch of replies, and on the resend timer.
   */
  #pump(): void {
    if (this.#stopped || !this.#d.link.isUp()) return;
    const room = this.#d.config.syncWindow - this.#inFlight.size;
    if (room <= 0) return;
    for (const entry of this.#d.outbox.pending(room, this.#sentThrough)) {
      if (!this.#inFlight.has(entry.txnId) && !this.#send(entry)) return;
      this.#sentThrough = entry.seq;
    }
  }

  /** Every resend interval: send again what is still unanswered (same bytes), then fill the window. */
  #scheduleResend(): void {
    if (this.#stopped) return;
    this.#cancelResendTimer = this.#d.bindings.clock.setTimer(this.#d.config.resendIntervalMs, () => {
      if (this.#d.link.isUp()) {
        const now = this.#d.bindings.clock.monotonicMs();
        for (const f of this.#inFlight.values()) {
          if (now - f.sentAt < this.#d.config.resendIntervalMs) continue;
          if (this.#d.link.send(f.frame)) f.sentAt = now;
        }
      }
      this.#pump();
      this.#scheduleResend();
    });
  }

  /** A reply is trusted only after its signature (or its batch's) verifies with the gateway key. */
  #verified(payload: Buffer, maxBytes?: number): Buffer | undefined {
    try {
      const frame = maxBytes === undefined ? decodeFrame(payload) : decodeFrameWithin(payload, maxBytes);
      if (!verifyFrame(frame, this.#d.gatewaySignPublicKey, this.#verifier, this.#roots)) {
        this.#d.log.warn({ code: 'REPLY_BAD_SIGNATURE' }, CODES.REPLY_BAD_SIGNATURE.en);
        return undefined;
      }
      return frame.message;
    } catch (e) {
      this.#d.log.warn({ err: e }, 'unreadable message from the gateway ignored');
      return undefined;
    }
  }

  #onReply(payload: Buffer): void {
    const message = this.#verified(payload);
    if (!message) return;
    let reply: Reply;
    try {
      reply = parseJson(Reply, message, 'reply');
    } catch (e) {
      this.#d.log.warn({ err: e }, 'reply of an unknown shape ignored');
      return;
    }
    const terminalId = this.#d.config.terminalId;
    switch (reply.type) {
      case 'debit.reply': {
        const b = reply.body;
        if (b.terminalId !== terminalId) return void this.#d.log.warn({ code: 'REPLY_UNEXPECTED', txnId: b.txnId }, 'reply for another terminal ignored');
        this.#queueReply({ settle: { kind: 'sale', txnId: b.txnId, status: b.status, code: b.code ?? null, taken: b.taken, guaranteed: b.guaranteed ?? 0, reply: message }, debit: b }, b.decidedAt);
        return;
      }
      case 'void.reply': {
        const b = reply.body;
        if (b.terminalId !== terminalId) return void this.#d.log.warn({ code: 'REPLY_UNEXPECTED', txnId: b.txnId }, 'reply for another terminal ignored');
        this.#queueReply({ settle: { kind: 'void', txnId: b.txnId, result: b.result, reply: message } }, b.decidedAt);
        return;
      }
      case 'sync.missing':
        if (reply.body.terminalId === terminalId) this.#resendMissing(reply.body.seqs);
        this.#noteGatewayTime(reply.body.decidedAt);
        return;
      case 'error':
        this.#noteGatewayTime(reply.body.decidedAt);
        this.#onErrorReply(reply.corr, reply.body.code);
        return;
    }
  }

  /** The gateway lacks these records (a gap in the sequence): send them again, whatever their state here. */
  #resendMissing(seqs: readonly number[]): void {
    const found: number[] = [];
    for (const seq of seqs) {
      const e = this.#d.outbox.bySeq(seq);
      if (!e) continue;
      found.push(seq);
      if (this.#d.link.send(e.frame) && e.state === 'pending') this.#inFlight.set(e.txnId, { sentAt: this.#d.bindings.clock.monotonicMs(), frame: e.frame });
    }
    const lost = seqs.filter((s) => !found.includes(s));
    this.#d.log.warn({ resent: found.length, lost }, 'the gateway asked for missing records');
  }

  #queueReply(r: QueuedReply, gatewayAt: number): void {
    if (this.#replies.length === 0) setImmediate(() => this.#flushReplies());
    this.#replies.push(r);
    this.#latestGatewayAt = Math.max(this.#latestGatewayAt, gatewayAt);
  }

  /** Record every reply that arrived in this turn in one transaction, then move the sale and the window on. */
  #flushReplies(): void {
    const batch = this.#replies;
    this.#replies = [];
    if (batch.length === 0 || this.#stopped) return;
    const now = this.#d.bindings.clock.now();
    const gatewayAt = this.#latestGatewayAt;
    let fresh: Set<string>;
    try {
      fresh = new Set(
        this.#d.outbox.atomically(() => {
          const ids = this.#d.outbox.settle(batch.map((r) => r.settle), now);
          this.#d.outbox.setGatewayTime({ gatewayAt, localAt: now });
          return ids;
        }),
      );
    } catch (e) {
      this.#d.log.error({ err: e }, 'replies could not be recorded; the records stay pending and are resent');
      return;
    }
    this.#contactMono = this.#d.bindings.clock.monotonicMs();
    const wasSilent = this.#degraded;
    this.#degraded = false;
    this.#checkClock(gatewayAt, now);
    for (const r of batch) {
      const id = r.settle.txnId;
      this.#inFlight.delete(id);
      if (!fresh.has(id)) {
        if (!this.#d.outbox.entry(id)) this.#d.log.warn({ code: 'REPLY_UNEXPECTED', txnId: id }, CODES.REPLY_UNEXPECTED.en);
        continue;
      }
      const s = r.settle;
      this.onSettled?.(s.kind === 'sale' ? { txnId: id, status: s.status, code: s.code } : { txnId: id, status: 'void', code: s.result });
      if (r.debit) this.#dispatch({ type: 'REPLY', reply: r.debit });
    }
    if (wasSilent) this.#statusChanged();
    this.#pump();
  }

  /** Any signed gateway time (replies, errors, live hotlist refreshes) tells the terminal its clock's error. */
  #noteGatewayTime(gatewayAt: number): void {
    const now = this.#d.bindings.clock.now();
    this.#d.outbox.setGatewayTime({ gatewayAt, localAt: now });
    this.#contactMono = this.#d.bindings.clock.monotonicMs();
    this.#checkClock(gatewayAt, now);
  }

  #checkClock(gatewayAt: number, now: number): void {
    const bound = this.#d.outbox.policy()?.limits.clockSkewMaxMs;
    if (bound !== undefined && Math.abs(gatewayAt - now) > bound) {
      this.#d.log.warn({ code: 'CLOCK_UNTRUSTED', skewMs: gatewayAt - now }, "the terminal's clock differs from the gateway's: no offline sale until it is set right");
    }
  }

  /** The offline policy and the hotlist, pushed (retained) by the gateway and signed with its key. */
  #onPush(topic: string, payload: Buffer, retained: boolean): void {
    const message = this.#verified(payload, MAX_PUSH_BYTES);
    if (!message) return;
    const o = this.#d.outbox;
    try {
      if (topic === POLICY_TOPIC) {
        const doc = parseJson(PolicyDoc, message, 'offline policy').body;
        if (o.setPolicy(doc)) this.#d.log.info({ version: doc.version }, 'offline policy updated');
        return;
      }
      if (topic === HOTLIST_TOPIC || topic === HOTLIST_FULL_TOPIC) {
        const doc = parseJson(HotlistDoc, message, 'hotlist').body;
        const result = o.applyHotlist(doc);
        if (result === 'needs-full') this.#d.link.follow(HOTLIST_FULL_TOPIC, true);
        else if (doc.full && result !== 'stale') this.#d.link.follow(HOTLIST_FULL_TOPIC, false);
        if (result === 'applied') this.#d.log.info({ version: doc.version, entries: doc.entries.length, full: doc.full }, 'hotlist applied');
        // A live (not retained) hotlist was signed moments ago: it tells the time too.
        if (!retained && (result === 'applied' || result === 'refreshed')) this.#noteGatewayTime(doc.issuedAt);
        return;
      }
      this.#d.log.warn({ topic }, 'message on an unexpected topic ignored');
    } catch (e) {
      this.#d.log.warn({ err: e, topic }, 'pushed document refused');
    }
  }

  #onErrorReply(corr: string, code: Extract<Reply, { type: 'error' }>['body']['code']): void {
    if (CODES[code].retryable) {
      this.#d.log.info({ code, txnId: corr }, 'gateway busy; the record stays pending and is resent');
      return;
    }
    if (!corr || !this.#d.outbox.reject(corr, code, this.#d.bindings.clock.now())) {
      // A record already answered keeps its first answer: a later rejection under its id (TXN_CONFLICT) is
      // about another request that used the id, not this one.
      if (corr && this.#d.outbox.entry(corr)) this.#d.log.warn({ code, txnId: corr }, 'the gateway rejected a request under the id of a record already answered; its first answer stands');
      else this.#d.log.error({ code, corr }, 'the gateway rejected a request this terminal cannot match');
      return;
    }
    this.#inFlight.delete(corr);
    this.#d.log.error({ code, txnId: corr }, 'record rejected by the gateway; it will not be resent');
    this.onSettled?.({ txnId: corr, status: 'rejected', code });
    this.#dispatch({ type: 'REJECTED', txnId: corr, code });
  }

  /**
   * Stop for a software update: refused while any record waits to be acknowledged, so an update never
   * strands a sale. A restart keeps the queue in any case (it is on disk); this keeps it moving.
   */
  async stopForUpdate(): Promise<void> {
    const st = this.#d.outbox.stats();
    if (st.pending > 0) throw new PasserelleError('QUEUE_NOT_EMPTY', `${st.pending} records wait to be acknowledged by the gateway`);
    if (this.#state.tag !== 'idle' && this.#state.tag !== 'finished') throw new PasserelleError('SALE_IN_PROGRESS');
    await this.stop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelResendTimer?.();
    this.#cancelReplyTimer?.();
    this.#reading?.abort();
    this.#pin?.abort();
    await this.#d.link.stop();
  }
}

function codeOf(err: unknown, fallback: Code): Code {
  return isPasserelleError(err) ? err.code : fallback;
}
