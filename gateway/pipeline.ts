import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Logger } from '../common/log.ts';
import { CODES, isRejectCode, type RejectCode } from '../protocol/codes.ts';
import { saleProofMessage } from '../protocol/card-app.ts';
import { NodeVerifier } from '../protocol/crypto.ts';
import { encodeJson, parseTerminalRecord, requestFingerprint, voidFingerprint } from '../protocol/debit.ts';
import { isPasserelleError, PasserelleError } from '../protocol/errors.ts';
import { decodeFrame, encodeBatch } from '../protocol/frame.ts';
import { chainHash } from '../protocol/offline.ts';
import { buildTree, leafHash, rootMessage } from '../protocol/merkle.ts';
import { PROTOCOL_VERSION, type DebitRequestBody, type SyncMissing } from '../protocol/messages.ts';
import { openPin } from '../protocol/pin.ts';
import { parseTerminalTopic, replyTopic } from '../protocol/topics.ts';
import type { GatewayKeys } from './keys.ts';
import type { CommitOutcome, Ledger, LedgerItem } from './ledger/ledger.ts';
import { verifyPin } from './pin-hash.ts';
import { errorReply } from './replies.ts';
import type { CardProofCheck, PinCheck } from './rules.ts';

/**
 * The path of one debit through the gateway:
 *
 *   receive → decode frame → look up the terminal → verify its signature (thread pool) → parse and check
 *   → open and check the sealed code (QR only, thread pool) → group commit → sign the batch → reply
 *
 * Group commit: what arrives in one turn of the event loop (or within `maxWaitMs`) is decided and
 * committed in one SQLite transaction; only after the commit returns (on disk, synchronous=FULL) are the
 * replies signed and published. A reply therefore never announces a debit that is not durable.
 *
 * Replies of one flush are signed together: one Ed25519 signature over the Merkle root of the batch, each
 * reply carrying its audit path (see protocol/merkle.ts).
 */

export interface PipelineOptions {
  readonly ledger: Ledger;
  readonly keys: GatewayKeys;
  readonly publish: (topic: string, payload: Buffer) => void;
  readonly log: Logger;
  readonly batch: { readonly maxItems: number; readonly maxWaitMs: number };
  readonly maxInFlight: number;
  /** Requests of one terminal being verified at once (default: no limit but `maxInFlight`). */
  readonly maxInFlightPerTerminal?: number;
  /** New records one terminal may have stored per window (gateway config `limits.terminalRecords`); unlimited when absent. */
  readonly terminalRecords?: { readonly points: number; readonly durationS: number };
  /** Wall clock in ms for `decidedAt`; injectable for tests. */
  readonly now?: () => number;
  readonly hooks?: PipelineHooks;
  readonly metrics?: PipelineMetrics;
  /** How long a gap in a terminal's sequence numbers may last before the missing records are asked for. */
  readonly gapGraceMs?: number;
}

/** What the pipeline reports as it works (gateway/metrics.ts); each call is a few instructions. */
export interface PipelineMetrics {
  /** A request's signatures (the terminal's, the card's) checked, in ms from its receipt. */
  verified(ms: number): void;
  /** A batch committed: its size and the ledger transaction's time, in ms. */
  committed(size: number, ms: number): void;
}

export interface PipelineHooks {
  /** Called with a batch just before it is committed. Tests use it to stop the gateway at that instant. */
  readonly beforeCommit?: (items: readonly LedgerItem[]) => Promise<void> | void;
}

export interface PipelineStats {
  received: number;
  approved: number;
  declined: number;
  repeats: number;
  rejected: number;
  /** Requests refused because their terminal was over its quota of new records (RATE_LIMITED). */
  rateLimited: number;
  conflicts: number;
  seqConflicts: number;
  voids: number;
  offline: number;
  gapRequests: number;
  batches: number;
  ledgerFailures: number;
  inFlight: number;
}

/** Every counter at zero: a new pipeline's. */
export function noStats(): PipelineStats {
  return { received: 0, approved: 0, declined: 0, repeats: 0, rejected: 0, rateLimited: 0, conflicts: 0, seqConflicts: 0, voids: 0, offline: 0, gapRequests: 0, batches: 0, ledgerFailures: 0, inFlight: 0 };
}

interface Pending {
  readonly terminalId: string;
  readonly item: LedgerItem;
  readonly txnId: string;
  readonly seq: number;
  /** A record the gateway wrote itself (`submit`): its outcome goes back here instead of to a terminal. */
  readonly settle?: { readonly resolve: (o: CommitOutcome) => void; readonly reject: (e: unknown) => void };
}

interface OutgoingReply {
  readonly terminalId: string;
  readonly message: Buffer;
}

export class DebitPipeline {
  readonly #o: PipelineOptions;
  readonly #verifier = new NodeVerifier();
  /** Chip keys apart from terminal keys: hundreds of thousands of cards must not evict the terminals' keys. */
  readonly #cardVerifier = new NodeVerifier(50_000);
  readonly #now: () => number;
  #batch: Pending[] = [];
  #flushTimer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  /** A batch is being committed; the next one waits for it (`#flush`). */
  #committing = false;
  /** Batches whose share of the in-flight count was given back. */
  readonly #counted = new WeakSet<readonly Pending[]>();

  #doneWith(batch: readonly Pending[]): void {
    this.#counted.add(batch);
    this.#done(batch.length);
  }
  #replies: OutgoingReply[] = [];
  #replyFlushScheduled = false;
  #stopped = false;
  /** Stopping: new messages are ignored (terminals resend them), those already received are finished. */
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  readonly stats: PipelineStats = noStats();
  /** The last ledger commit failed (and none succeeded since): what /healthz reports, cleared by a success. */
  #ledgerFailing = false;
  /** Requests of each terminal being verified (its share of the gateway's verification work). */
  readonly #inFlightOf = new Map<string, number>();
  /** New records stored per terminal and window: a terminal key cannot fill the ledger. */
  readonly #quota: RateLimiterMemory | undefined;
  /** Per terminal, the next sequence number expected; a record that does not match it triggers a gap check. */
  readonly #expected = new Map<string, number>();
  readonly #gapTimers = new Map<string, NodeJS.Timeout>();

  constructor(o: PipelineOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    const q = o.terminalRecords;
    this.#quota = q && new RateLimiterMemory({ keyPrefix: 'terminal-records', points: q.points, duration: q.durationS });
  }

  /** True while the ledger fails: the last commit failed and none has succeeded since. */
  get ledgerFailing(): boolean {
    return this.#ledgerFailing;
  }

  /** The broker hands every request message here. Never throws. */
  readonly handle = (topic: string, payload: Buffer): void => {
    if (this.#stopped || this.#draining) return;
    const route = parseTerminalTopic(topic);
    if (!route || route.kind !== 'request') {
      this.#o.log.warn({ topic }, 'message on an unexpected topic ignored');
      return;
    }
    this.stats.received++;
    const terminalId = route.terminalId;
    const mine = this.#inFlightOf.get(terminalId) ?? 0;
    if (this.stats.inFlight >= this.#o.maxInFlight || mine >= (this.#o.maxInFlightPerTerminal ?? Number.POSITIVE_INFINITY)) {
      // Overloaded (in all, or by this terminal): answer at once, with the id the request claims so the
      // terminal knows to resend it later.
      this.#reject(terminalId, busyCorr(payload), 'GATEWAY_BUSY', `too many requests in flight`, false);
      return;
    }
    this.stats.inFlight++;
    this.#inFlightOf.set(terminalId, mine + 1);
    this.#receive(terminalId, payload)
      .catch((err: unknown) => {
        this.#o.log.error({ err, terminalId }, 'unexpected failure while receiving a request');
        this.#done(1);
      })
      .finally(() => this.#leave(terminalId));
  };

  /** A request of this terminal is answered (or dropped): its share of the in-flight count goes down. */
  #leave(terminalId: string): void {
    const n = (this.#inFlightOf.get(terminalId) ?? 1) - 1;
    if (n <= 0) this.#inFlightOf.delete(terminalId);
    else this.#inFlightOf.set(terminalId, n);
  }

  /**
   * May this terminal have one more record stored? Each record takes a point of the terminal's quota; with
   * none left, only a record the ledger already holds passes (a repeat: its original reply goes back, and
   * a terminal resending what it is owed is never refused), and a new one is RATE_LIMITED, nothing stored.
   * The ledger is asked only then, sparing a lookup per request. Only after the terminal's signature
   * verified, so nobody but the key holder can spend a terminal's quota.
   */
  async #mayStore(terminalId: string, txnId: string): Promise<boolean> {
    if (!this.#quota) return true;
    try {
      await this.#quota.consume(terminalId);
      return true;
    } catch {
      return await this.#o.ledger.request(txnId) !== undefined;
    }
  }

  async #receive(terminalId: string, payload: Buffer): Promise<void> {
    let frame;
    try {
      frame = decodeFrame(payload);
    } catch (e) {
      return this.#rejectError(terminalId, '', e);
    }
    // A rejection echoes what the request claims as its correlation id, so the terminal can match it to
    // its own pending sale. Only this terminal may publish on its topic (broker ACL), and nothing but the
    // matching is ever based on it. Read only when rejecting: the happy path parses the JSON once.
    const claimed = () => claimedCorr(frame.message);
    if (frame.mode !== 'direct') return this.#reject(terminalId, claimed(), 'BAD_FRAME', 'requests are signed directly, not in batches');
    const terminal = await this.#o.ledger.terminal(terminalId);
    if (!terminal) return this.#reject(terminalId, claimed(), 'TERMINAL_UNKNOWN', `no terminal ${terminalId}`);
    // The terminal's signature and the card's (an NFC sale) are checked together on the thread pool; the
    // record is parsed meanwhile, but a refusal of its content is only sent once the signature verified.
    const verifyStart = performance.now();
    const signed = this.#verifier.verifyAsync(frame.message, frame.signature, terminal.publicKey);
    let record;
    let unreadable: unknown;
    try {
      record = parseTerminalRecord(frame.message, terminalId);
    } catch (e) {
      unreadable = e;
    }
    const [ok, proof] = await Promise.all([signed, record?.type === 'debit.request' ? this.#checkCardProof(record.body) : ('not-needed' as const)]);
    this.#o.metrics?.verified(performance.now() - verifyStart);
    if (this.#stopped) return;
    if (!ok) return this.#reject(terminalId, claimed(), 'BAD_SIGNATURE', 'signature does not verify with the registered key');
    if (!record) return this.#rejectError(terminalId, claimed(), unreadable);
    if (!(await this.#mayStore(terminalId, record.body.txnId))) {
      this.stats.rateLimited++;
      return this.#reject(terminalId, record.body.txnId, 'RATE_LIMITED', 'this terminal sent more new records than its quota allows: send again later');
    }
    if (this.#stopped) return;
    const msgHash = chainHash(frame.message);
    if (record.type === 'debit.void') {
      const v = record.body;
      this.#enqueue({ terminalId, txnId: v.txnId, seq: v.seq, item: { void: v, fingerprint: voidFingerprint(v), msgHash } });
      return;
    }
    const body: DebitRequestBody = record.body;
    let pin: PinCheck = 'not-needed';
    if (body.credential.kind === 'qr') {
      try {
        pin = await this.#checkPin(body, body.credential.pinBlock, terminal.partnerId);
      } catch (e) {
        return this.#rejectError(terminalId, body.txnId, e);
      }
      if (this.#stopped) return;
    }
    this.#enqueue({ terminalId, txnId: body.txnId, seq: body.seq, item: { body, fingerprint: requestFingerprint(body), pin, proof, msgHash } });
  }

  /**
   * An NFC sale's card signature, checked with the chip key recorded at personalisation: no key, a
   * signature in a non-canonical spelling or one that does not verify is `failed` (declined by the rules,
   * never guaranteed offline). Whether its `ref` may be used is the ledger's to judge, inside the batch.
   */
  async #checkCardProof(body: DebitRequestBody): Promise<CardProofCheck> {
    const c = body.credential;
    if (c.kind !== 'nfc') return 'not-needed';
    const key = await this.#o.ledger.cardKey(c.cardNumber);
    const sig = Buffer.from(c.proof.sig, 'base64url');
    if (!key || sig.toString('base64url') !== c.proof.sig) return 'failed';
    const message = saleProofMessage({ ref: c.proof.ref, terminalId: body.terminalId, benefit: body.benefit, amount: body.amount, unit: body.unit, at: c.proof.at });
    return (await this.#cardVerifier.verifyAsync(message, sig, key.publicKey)) ? 'ok' : 'failed';
  }

  /**
   * A sale the gateway wrote itself (the partner web counter, gateway/web/counter.ts), for a terminal id
   * of its own: the same sealed-code check, the same batch, rules and ledger as a terminal's request; its
   * outcome is given back (never published). Refused with GATEWAY_BUSY when stopping or full, and with the
   * ledger's error when the batch fails (nothing applied).
   */
  async submit(body: DebitRequestBody, message: Buffer): Promise<CommitOutcome> {
    if (this.#stopped || this.#draining) throw new PasserelleError('GATEWAY_BUSY', 'the gateway is stopping');
    if (this.stats.inFlight >= this.#o.maxInFlight) throw new PasserelleError('GATEWAY_BUSY', 'too many requests in flight');
    const terminal = await this.#o.ledger.terminal(body.terminalId);
    if (!terminal) throw new PasserelleError('TERMINAL_UNKNOWN', `no terminal ${body.terminalId}`);
    this.stats.received++;
    this.stats.inFlight++;
    let pin: PinCheck = 'not-needed';
    try {
      if (body.credential.kind === 'qr') pin = await this.#checkPin(body, body.credential.pinBlock, terminal.partnerId);
    } catch (e) {
      this.#done(1);
      throw e;
    }
    if (this.#stopped) {
      this.#done(1);
      throw new PasserelleError('GATEWAY_BUSY', 'the gateway is stopping');
    }
    return new Promise<CommitOutcome>((resolve, reject) => {
      const item = { body, fingerprint: requestFingerprint(body), pin, proof: 'not-needed' as const, msgHash: chainHash(message) };
      this.#enqueue({ terminalId: body.terminalId, txnId: body.txnId, seq: body.seq, item, settle: { resolve, reject } });
    });
  }

  /** R2/R3: open the sealed code (bound to this transaction) and compare it with the card's slow hash. */
  async #checkPin(body: DebitRequestBody, pinBlock: string, partnerId: string): Promise<PinCheck> {
    const pin = openPin(pinBlock, body.txnId, this.#o.keys.boxSecretKey);
    const card = await this.#o.ledger.card(body.credential.cardNumber);
    // No card: the rules decline CARD_UNKNOWN before they look at the code.
    if (!card || card.pinHash === null) return 'not-set';
    // The ledger counts the tries inside the batch's transaction; this only spares the slow hash.
    const gate = await this.#o.ledger.pinGate(card.number, partnerId, this.#now());
    if (gate !== 'open') return gate;
    return (await verifyPin(pin, card.pinHash)) ? 'ok' : 'incorrect';
  }

  #enqueue(p: Pending): void {
    this.#batch.push(p);
    if (this.#batch.length >= this.#o.batch.maxItems) {
      void this.#flush();
    } else if (!this.#flushTimer) {
      const run = () => void this.#flush();
      this.#flushTimer = this.#o.batch.maxWaitMs === 0 ? setImmediate(run) : setTimeout(run, this.#o.batch.maxWaitMs);
    }
  }

  /**
   * Commit what has arrived, one batch at a time: while a batch commits, the next one gathers (group commit:
   * with a ledger that answers later, PostgreSQL, batches started meanwhile would each pay a transaction
   * for a handful of records). The next batch starts as soon as this one is answered.
   */
  async #flush(): Promise<void> {
    this.#cancelFlushTimer();
    if (this.#committing) return;
    const batch = this.#batch.splice(0, this.#o.batch.maxItems);
    if (batch.length === 0) return;
    this.#committing = true;
    try {
      await this.#commit(batch);
    } catch (e) {
      // Past the ledger (a reply that could not be made or sent): logged, the batch's share of the
      // in-flight count given back; what the ledger committed stays, and terminals resend for the replies.
      this.#o.log.error({ err: e, size: batch.length }, 'a committed batch could not be answered');
      settleFailed(batch, e);
      if (!this.#counted.has(batch)) this.#doneWith(batch);
    } finally {
      this.#committing = false;
      if (this.#batch.length > 0 && !this.#stopped) void this.#flush();
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    const items = batch.map((p) => p.item);
    if (this.#o.hooks?.beforeCommit) await this.#o.hooks.beforeCommit(items);
    // Stopped between receipt and commit: nothing is applied and nothing is answered; terminals resend.
    if (this.#stopped) return settleFailed(batch, new PasserelleError('GATEWAY_BUSY', 'the gateway stopped before the sale was recorded'));
    let outcomes;
    const commitStart = performance.now();
    try {
      outcomes = await this.#o.ledger.commitDebits(items, this.#now());
    } catch (e) {
      this.stats.ledgerFailures++;
      this.#ledgerFailing = true;
      this.#o.log.error({ err: e, size: batch.length }, 'ledger commit failed; batch rolled back, no replies sent');
      settleFailed(batch, e);
      this.#doneWith(batch);
      return;
    }
    this.#o.metrics?.committed(batch.length, performance.now() - commitStart);
    if (this.#ledgerFailing) this.#o.log.info('ledger commits succeed again');
    this.#ledgerFailing = false;
    this.stats.batches++;
    for (const [i, o] of outcomes.entries()) {
      const p = batch[i]!;
      p.settle?.resolve(o);
      if (o.kind === 'conflict') {
        this.stats.conflicts++;
        this.#o.log.warn({ txnId: p.txnId, terminalId: p.terminalId }, 'transaction id reused with different content: refused');
        if (!p.settle) this.#queueReply(p.terminalId, encodeJson(errorReply(p.txnId, 'TXN_CONFLICT', 'transaction id already used for another request', this.#now())));
        continue;
      }
      if (o.kind === 'seq-conflict') {
        this.stats.seqConflicts++;
        this.#o.log.error({ txnId: p.txnId, terminalId: p.terminalId, seq: p.seq }, 'sequence number already used by another record: refused, chain break recorded');
        if (!p.settle) this.#queueReply(p.terminalId, encodeJson(errorReply(p.txnId, 'SEQ_CONFLICT', `sequence number ${p.seq} already holds another record`, this.#now())));
        continue;
      }
      if (!o.fresh) this.stats.repeats++;
      else if (o.status === 'void') this.stats.voids++;
      else if (o.status === 'approved') this.stats.approved++;
      else this.stats.declined++;
      if (o.fresh && 'body' in p.item && p.item.body.mode === 'offline') this.stats.offline++;
      if (!p.settle) this.#queueReply(p.terminalId, o.reply);
    }
    this.#sendReplies();
    this.#doneWith(batch);
    this.#watchSequences(batch);
  }

  /**
   * Gap detection. Records of one terminal normally arrive in sequence order; one that does not follow
   * the last one seen may mean a record was lost. After a grace period (reordered resends settle by
   * themselves), the ledger says which numbers are still missing and the terminal is asked for them.
   */
  #watchSequences(batch: readonly Pending[]): void {
    for (const p of batch) {
      const expected = this.#expected.get(p.terminalId);
      if (expected === p.seq || (expected !== undefined && p.seq < expected)) {
        if (expected === p.seq) this.#expected.set(p.terminalId, p.seq + 1);
        continue;
      }
      this.#expected.set(p.terminalId, Math.max(expected ?? 0, p.seq + 1));
      this.#scheduleGapCheck(p.terminalId);
    }
  }

  #scheduleGapCheck(terminalId: string, attempt = 0): void {
    if (this.#gapTimers.has(terminalId) || this.#stopped) return;
    // Asked again, less and less often, until the gap is filled (a terminal offline now answers when back).
    const delay = (this.#o.gapGraceMs ?? 2000) * Math.min(2 ** attempt, 30);
    const t = setTimeout(async () => {
      this.#gapTimers.delete(terminalId);
      if (this.#stopped) return;
      try {
        const sync = await this.#o.ledger.terminalSync(terminalId, 500);
        if (sync.missing.length === 0) return;
        this.stats.gapRequests++;
        this.#o.log.warn({ terminalId, missing: sync.missing.length, first: sync.missing[0] }, 'records missing from a terminal: asking for them');
        const ask: SyncMissing = { v: PROTOCOL_VERSION, type: 'sync.missing', corr: '', body: { terminalId, seqs: [...sync.missing], decidedAt: this.#now() } };
        this.#queueReply(terminalId, encodeJson(ask));
        this.#sendReplies();
        this.#scheduleGapCheck(terminalId, attempt + 1);
      } catch (e) {
        this.#o.log.error({ err: e, terminalId }, 'gap check failed');
      }
    }, delay);
    t.unref();
    this.#gapTimers.set(terminalId, t);
  }

  #rejectError(terminalId: string, corr: string, e: unknown): void {
    if (isPasserelleError(e) && isRejectCode(e.code)) {
      this.#reject(terminalId, corr, e.code, e.message);
    } else {
      this.#o.log.error({ err: e, terminalId }, 'unexpected error while checking a request');
      this.#reject(terminalId, corr, 'BAD_SCHEMA', 'request could not be checked');
    }
  }

  #reject(terminalId: string, corr: string, code: RejectCode, message: string, counted = true): void {
    this.stats.rejected++;
    // A flood of retryable refusals (busy, over quota) must not become a flood of log lines.
    this.#o.log[CODES[code].retryable ? 'debug' : 'info']({ terminalId, corr, code }, 'request rejected');
    this.#queueReply(terminalId, encodeJson(errorReply(corr, code, message, this.#now())));
    if (!this.#replyFlushScheduled) {
      this.#replyFlushScheduled = true;
      setImmediate(() => this.#sendReplies());
    }
    if (counted) this.#done(1);
  }

  #queueReply(terminalId: string, message: Buffer): void {
    this.#replies.push({ terminalId, message });
  }

  /** Sign every queued reply with one signature over their Merkle root, then publish each. */
  #sendReplies(): void {
    this.#replyFlushScheduled = false;
    const replies = this.#replies;
    this.#replies = [];
    if (replies.length === 0 || this.#stopped) return;
    const tree = buildTree(replies.map((r) => leafHash(r.message)));
    const signature = this.#o.keys.signer.sign(rootMessage(replies.length, tree.root));
    for (const [i, r] of replies.entries()) {
      this.#o.publish(replyTopic(r.terminalId), encodeBatch(r.message, signature, replies.length, i, tree.proofs[i]!));
    }
  }

  #done(n: number): void {
    this.stats.inFlight -= n;
    if (this.stats.inFlight === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  #cancelFlushTimer(): void {
    if (!this.#flushTimer) return;
    clearImmediate(this.#flushTimer as NodeJS.Immediate);
    clearTimeout(this.#flushTimer as NodeJS.Timeout);
    this.#flushTimer = undefined;
  }

  /**
   * Stop. Graceful: wait (bounded) until every request already received is committed and answered.
   * Abrupt: drop everything not yet committed, as a crash would; terminals resend it.
   */
  async stop(graceful: boolean, timeoutMs = 5000): Promise<void> {
    this.#draining = true;
    if (graceful && this.stats.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.#idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.#stopped = true;
    for (const t of this.#gapTimers.values()) clearTimeout(t);
    this.#gapTimers.clear();
    this.#cancelFlushTimer();
    settleFailed(this.#batch, new PasserelleError('GATEWAY_BUSY', 'the gateway stopped before the sale was recorded'));
    this.#batch = [];
    this.#replies = [];
  }
}

/** The gateway's own records of a batch that was not committed learn it: nothing of them was applied. */
function settleFailed(batch: readonly Pending[], e: unknown): void {
  for (const p of batch) p.settle?.reject(e);
}

function busyCorr(payload: Buffer): string {
  try {
    return claimedCorr(decodeFrame(payload).message);
  } catch {
    return '';
  }
}

/** The correlation id a request claims, if one can be read; '' otherwise. */
function claimedCorr(message: Buffer): string {
  try {
    const v: unknown = JSON.parse(message.toString('utf8'));
    const corr = typeof v === 'object' && v !== null ? (v as { corr?: unknown }).corr : undefined;
    return typeof corr === 'string' && /^[0-9a-f-]{36}$/.test(corr) ? corr : '';
  } catch {
    return '';
  }
}
