import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { nodeSigner, NodeVerifier, type Signer } from '../protocol/crypto.ts';
import { verifySaleProof } from '../protocol/card-app.ts';
import { assert } from '../protocol/errors.ts';
import { encodeJson } from '../protocol/debit.ts';
import { decodeFrame, encodeBatch, encodeDirect } from '../protocol/frame.ts';
import { buildTree, leafHash, rootMessage } from '../protocol/merkle.ts';
import { DebitRequest, parseJson } from '../protocol/messages.ts';
import { debitReply, errorReply } from '../gateway/replies.ts';
import type { Link, LinkHandlers, LinkRefusal } from './link.ts';
import { Outbox } from './outbox.ts';
import { TerminalRuntime, type RuntimeDeps } from './runtime.ts';
import { DEFAULT_OFFLINE_LIMITS, HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, hotlistTag, POLICY_TOPIC, type OfflineLimits } from '../protocol/offline.ts';
import { CardBureau, simBindings, type SimBindings } from '../simulators/sim-bindings.ts';
import { ForeignCard, personaliseCard } from '../simulators/card.ts';
import { CODES } from '../protocol/codes.ts';

/** The runtime against a fake link: what it sends, when, and which replies it trusts. */

const TID = 'T-TEST-01';
const CARD = cardNumberFrom('825000000000001');
const gateway = nodeSigner(randomBytes(32));
const issuer = nodeSigner(randomBytes(32));

class FakeLink implements Link {
  handlers: LinkHandlers | undefined;
  up = true;
  readonly sent: Buffer[] = [];
  onSend: ((frame: Buffer) => void) | undefined;
  start(h: LinkHandlers): void {
    this.handlers = h;
  }
  isUp(): boolean {
    return this.up;
  }
  refused: LinkRefusal | undefined;
  refusal(): LinkRefusal | undefined {
    return this.refused;
  }
  send(frame: Buffer): boolean {
    if (!this.up) return false;
    this.onSend?.(frame);
    this.sent.push(frame);
    return true;
  }
  readonly reports: Buffer[] = [];
  report(frame: Buffer): boolean {
    if (!this.up) return false;
    this.reports.push(frame);
    return true;
  }
  readonly followed = new Set<string>();
  follow(topic: string, on: boolean): void {
    if (on) this.followed.add(topic);
    else this.followed.delete(topic);
  }
  async stop(): Promise<void> {}
  /** Deliver a pushed document signed directly by `signer`. */
  push(topic: string, message: unknown, retained = true, signer: Signer = gateway): void {
    const bytes = encodeJson(message);
    this.handlers!.push(topic, encodeDirect(bytes, signer.sign(bytes)), retained);
  }
  /** Deliver a reply signed as a batch of one by `signer`. */
  reply(message: unknown, signer: Signer = gateway): void {
    const bytes = encodeJson(message);
    const tree = buildTree([leafHash(bytes)]);
    this.handlers!.reply(encodeBatch(bytes, signer.sign(rootMessage(1, tree.root)), 1, 0, tree.proofs[0]!));
  }
}

let dir: string;
let link: FakeLink;
let outbox: Outbox;
let b: SimBindings;
let bureau: CardBureau;
let rt: TerminalRuntime;
let deps: RuntimeDeps;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-rt-'));
  link = new FakeLink();
  outbox = new Outbox({ file: join(dir, 'outbox.sqlite'), maxPending: 3 });
  bureau = new CardBureau(issuer);
  b = simBindings({ gateway: { boxPublicKey: new Uint8Array(32), issuerPublicKey: issuer.publicKey }, cards: bureau });
  deps = {
    config: {
      terminalId: TID,
      gatewayUrl: 'mqtt://127.0.0.1:1',
      brokerAuth: 'token',
      outboxFile: '',
      benefits: ['SPORT'],
      replyTimeoutMs: 300,
      resendIntervalMs: 100,
      syncWindow: 2,
      maxPending: 3,
      backoffBaseMs: 10,
      backoffMaxMs: 100,
      connectTimeoutMs: 1000,
      keepaliveS: 30,
      heartbeatS: 60,
      devices: { nfc: { enabled: true, apduTimeoutMs: 500 }, pad: null, qr: { kind: 'none' } },
      till: null,
      control: { port: 0 },
    },
    bindings: b,
    outbox,
    link,
    signer: nodeSigner(randomBytes(32)),
    gatewaySignPublicKey: gateway.publicKey,
    issuerPublicKey: issuer.publicKey,
    log: silentLogger,
  };
  rt = new TerminalRuntime(deps);
  rt.start();
});

afterEach(async () => {
  await rt.stop();
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

const OTHER = cardNumberFrom('825000000000002');

function policyDoc(version: number, limits: Partial<OfflineLimits> = {}) {
  return { v: 1, type: 'offline.policy', body: { version, issuedAt: Date.now(), limits: { ...DEFAULT_OFFLINE_LIMITS, ...limits } } };
}

/** The hotlist names a card by its chip key's tag: the chip this test's bureau gave it. */
const tagOf = (card: string) => hotlistTag(bureau.card(card).credential.cardPublicKey);

function hotlistDoc(body: { full: boolean; base: number; version: number; entries: { card: string; reason: string | null }[] }) {
  const entries = body.entries.map((e) => ({ tag: tagOf(e.card), reason: e.reason }));
  return { v: 1, type: 'offline.hotlist', body: { ...body, entries, issuedAt: Date.now() } };
}

/** What a terminal holds after its first contact: a policy, a hotlist (OTHER opposed) and the gateway's time. */
function givePolicy(limits: Partial<OfflineLimits> = {}): void {
  link.push(POLICY_TOPIC, policyDoc(1, limits));
  link.push(HOTLIST_TOPIC, hotlistDoc({ full: true, base: 0, version: 3, entries: [{ card: OTHER, reason: 'opposed' }] }), false);
  expect(outbox.policy()?.version).toBe(1);
  expect(outbox.gatewayTime()).toBeDefined();
}

function restart(): TerminalRuntime {
  const r = new TerminalRuntime({ ...deps, link });
  r.start();
  return r;
}

function sentRequest(i = 0) {
  return parseJson(DebitRequest, decodeFrame(link.sent[i]!).message, 'request').body;
}

describe('terminal runtime', () => {
  it('commits the sale before sending it, then accepts the signed reply', async () => {
    link.onSend = (frame) => {
      const txnId = parseJson(DebitRequest, decodeFrame(frame).message, 'request').corr;
      expect(outbox.entry(txnId)).toMatchObject({ state: 'pending', seq: 1 });
    };
    const sale = rt.sale('SPORT', 1500);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const req = sentRequest();
    link.reply(debitReply(req, { status: 'approved', taken: 1500, remainingToPay: 0, balanceAfter: 1500 }, 1));
    await expect(sale).resolves.toMatchObject({ kind: 'approved', reply: { taken: 1500 } });
    expect(outbox.entry(req.txnId)).toMatchObject({ state: 'replied', status: 'approved' });
  });

  it('ignores a reply signed by another key: the sale stays pending and is resent', async () => {
    const sale = rt.sale('SPORT', 1500);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const req = sentRequest();
    link.reply(debitReply(req, { status: 'approved', taken: 1500, remainingToPay: 0, balanceAfter: 0 }, 1), nodeSigner(randomBytes(32)));
    await until(() => link.sent.length >= 2);
    expect(link.sent[1]!.equals(link.sent[0]!)).toBe(true);
    expect(outbox.entry(req.txnId)?.state).toBe('pending');
    // No trusted reply in time and no offline policy: the request is voided and the sale refused.
    await expect(sale).resolves.toMatchObject({ kind: 'refused', code: 'NO_REPLY' });
    expect(outbox.entry(req.txnId)?.voidedBy).toEqual(expect.any(String));
  });

  it('a rejection is final: recorded, shown, never resent', async () => {
    const sale = rt.sale('SPORT', 1500);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const req = sentRequest();
    link.reply(errorReply(req.txnId, 'BAD_SIGNATURE', 'no', 1));
    await expect(sale).resolves.toEqual({ kind: 'rejected', txnId: req.txnId, code: 'BAD_SIGNATURE' });
    expect(outbox.entry(req.txnId)).toMatchObject({ state: 'rejected', code: 'BAD_SIGNATURE' });
    await new Promise((r) => setTimeout(r, 250));
    expect(link.sent).toHaveLength(1);
  });

  it('GATEWAY_BUSY leaves the request pending; it is resent with the same bytes', async () => {
    void rt.sale('SPORT', 1500);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    link.reply(errorReply(sentRequest().txnId, 'GATEWAY_BUSY', 'busy', 1));
    await until(() => link.sent.length >= 2);
    expect(link.sent[1]!.equals(link.sent[0]!)).toBe(true);
  });

  it('with the link down and a policy, the sale is accepted offline, committed, not sent; it goes out when the link comes up', async () => {
    givePolicy();
    link.up = false;
    const sale = rt.sale('SPORT', 700);
    b.nfc.tap({ cardNumber: CARD });
    await expect(sale).resolves.toMatchObject({ kind: 'offline' });
    expect(b.display.last?.lines[0]).toBe('ACCEPTÉ HORS LIGNE');
    expect(b.display.last?.footer).toMatch(/^HORS LIGNE · 1 en attente d'envoi/);
    expect(b.printer.receipts.at(-1)).toContain('ACCEPTÉ HORS LIGNE — PROVISOIRE');
    expect(link.sent).toHaveLength(0);
    expect(rt.outboxStats()).toMatchObject({ pending: 1, offlinePending: 1, offlinePendingCents: 700 });
    link.up = true;
    link.handlers!.up();
    expect(link.sent).toHaveLength(1);
    expect(sentRequest()).toMatchObject({ seq: 1, amount: 700, mode: 'offline', policy: 1, hotlist: 3 });
  });

  it('with the link down and no policy, the sale is refused and nothing is recorded', async () => {
    link.up = false;
    const sale = rt.sale('SPORT', 700);
    b.nfc.tap({ cardNumber: CARD });
    await expect(sale).resolves.toMatchObject({ kind: 'refused', code: 'OFFLINE_NO_POLICY' });
    expect(rt.outboxStats().pending).toBe(0);
  });

  it('offline limits: per sale, per card per day, hotlisted cards', async () => {
    givePolicy({ maxSaleCents: 1000, perCardDayCount: 2 });
    link.up = false;
    const sell = async (amount: number, card = CARD) => {
      const s = rt.sale('SPORT', amount);
      b.nfc.tap({ cardNumber: card });
      return s;
    };
    await expect(sell(1001)).resolves.toMatchObject({ kind: 'refused', code: 'OFFLINE_AMOUNT_LIMIT' });
    await expect(sell(500)).resolves.toMatchObject({ kind: 'offline' });
    await expect(sell(500)).resolves.toMatchObject({ kind: 'offline' });
    await expect(sell(500)).resolves.toMatchObject({ kind: 'refused', code: 'OFFLINE_CARD_LIMIT' });
    await expect(sell(500, OTHER)).resolves.toMatchObject({ kind: 'refused', code: 'OFFLINE_CARD_HOTLISTED' });
  });

  it('a reply timeout voids the online request and accepts the sale offline, in one transaction', async () => {
    givePolicy();
    const sale = rt.sale('SPORT', 900);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const online = sentRequest();
    const outcome = await sale;
    expect(outcome).toMatchObject({ kind: 'offline' });
    const offlineTxn = (outcome as { txnId: string }).txnId;
    expect(offlineTxn).not.toBe(online.txnId);
    expect(outbox.entry(online.txnId)).toMatchObject({ seq: 1, mode: 'online', voidedBy: expect.any(String) });
    const voidRec = outbox.entry(outbox.entry(online.txnId)!.voidedBy!)!;
    expect(voidRec).toMatchObject({ seq: 2, kind: 'void', target: online.txnId });
    expect(outbox.entry(offlineTxn)).toMatchObject({ seq: 3, mode: 'offline', amount: 900 });
    // A late approval of the voided request is recorded but cannot change the sale's outcome.
    link.reply(debitReply(online, { status: 'approved', taken: 900, remainingToPay: 0 }, Date.now()));
    await until(() => outbox.entry(online.txnId)?.state === 'replied');
    expect(rt.state).toMatchObject({ tag: 'finished', outcome: { kind: 'offline', txnId: offlineTxn } });
  });

  it('the status bar tells a silent gateway from a working link: "Serveur sans réponse" under ACCEPTÉ HORS LIGNE until a reply comes', async () => {
    givePolicy();
    const sale = rt.sale('SPORT', 900);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const online = sentRequest();
    await expect(sale).resolves.toMatchObject({ kind: 'offline' });
    // The link is up, but the gateway did not answer: the online request, its void and the offline sale wait.
    expect(link.up).toBe(true);
    expect(b.display.last?.lines[0]).toBe('ACCEPTÉ HORS LIGNE');
    expect(b.display.last?.footer).toBe("Serveur sans réponse · 3 en attente d'envoi (la plus ancienne depuis moins d'une minute)");
    // The link dropping and coming back is not an answer from the gateway.
    link.up = false;
    link.handlers!.down();
    expect(b.display.last?.footer).toMatch(/^HORS LIGNE · 3 en attente/);
    link.up = true;
    link.handlers!.up();
    expect(b.display.last?.footer).toMatch(/^Serveur sans réponse · 3 en attente/);
    // A reply from the gateway: the bar says so at once, on the screen still shown.
    link.reply(debitReply(online, { status: 'approved', taken: 900, remainingToPay: 0 }, Date.now()));
    await until(() => b.display.last?.footer?.startsWith('En ligne') === true);
    expect(b.display.last?.lines[0]).toBe('ACCEPTÉ HORS LIGNE');
    expect(b.display.last?.footer).toBe("En ligne · 2 en attente d'envoi (la plus ancienne depuis moins d'une minute)");
  });

  it('a restart voids an online sale whose result was never shown, and shows the last sale', async () => {
    const sale = rt.sale('SPORT', 1200);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const online = sentRequest();
    await rt.stop(); // as if the power went before the reply
    void sale;
    const rt2 = restart();
    expect(outbox.entry(online.txnId)?.voidedBy).toEqual(expect.any(String));
    expect(b.display.last?.lines[0]).toBe('DERNIÈRE VENTE INTERROMPUE');
    await rt2.stop();
  });

  it('refuses to stop for an update while records wait to be acknowledged', async () => {
    givePolicy();
    link.up = false;
    const s = rt.sale('SPORT', 300);
    b.nfc.tap({ cardNumber: CARD });
    await s;
    await expect(rt.stopForUpdate()).rejects.toMatchObject({ code: 'QUEUE_NOT_EMPTY' });
    // The queue survives a restart (it is on disk).
    const rt2 = restart();
    expect(rt2.outboxStats().pending).toBe(1);
    await rt2.stop();
  });

  it('forwards the queue in order, at most syncWindow records unanswered at a time', async () => {
    givePolicy({ perCardDayCount: 100, perCardDayCents: 1_000_000 });
    link.up = false;
    for (let i = 0; i < 3; i++) {
      const s = rt.sale('SPORT', 10 + i);
      b.nfc.tap({ cardNumber: CARD });
      await s;
    }
    link.up = true;
    link.handlers!.up();
    expect(link.sent.map((_, i) => sentRequest(i).seq)).toEqual([1, 2]);
    const first = sentRequest(0);
    link.reply(debitReply(first, { status: 'approved', taken: first.amount, remainingToPay: 0 }, Date.now()));
    await until(() => link.sent.length === 3);
    expect(sentRequest(2).seq).toBe(3);
    expect(outbox.entry(first.txnId)).toMatchObject({ state: 'replied', status: 'approved', taken: first.amount });
  });

  it('resends records the gateway says are missing, whatever their state here', async () => {
    const s = rt.sale('SPORT', 400);
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const req = sentRequest();
    link.reply(debitReply(req, { status: 'approved', taken: 400, remainingToPay: 0 }, Date.now()));
    await s;
    link.reply({ v: 1, type: 'sync.missing', corr: '', body: { terminalId: TID, seqs: [1, 7], decidedAt: Date.now() } });
    await until(() => link.sent.length === 2);
    expect(link.sent[1]!.equals(link.sent[0]!)).toBe(true);
  });

  it('refuses a new sale when the outbox is full, recording nothing', async () => {
    givePolicy({ perCardDayCount: 100, perCardDayCents: 1_000_000 });
    link.up = false;
    for (let i = 0; i < 3; i++) {
      const s = rt.sale('SPORT', 100 + i);
      b.nfc.tap({ cardNumber: CARD });
      await s;
    }
    const full = rt.sale('SPORT', 999);
    b.nfc.tap({ cardNumber: CARD });
    await expect(full).resolves.toEqual({ kind: 'cancelled', code: 'OUTBOX_FULL' });
    expect(rt.outboxStats().pending).toBe(3);
  });

  it('ignores pushed documents not signed by the gateway, and stale hotlists', () => {
    link.push(POLICY_TOPIC, policyDoc(5), true, nodeSigner(randomBytes(32)));
    expect(outbox.policy()).toBeUndefined();
    link.push(HOTLIST_TOPIC, hotlistDoc({ full: true, base: 0, version: 4, entries: [{ card: OTHER, reason: 'opposed' }] }));
    link.push(HOTLIST_TOPIC, hotlistDoc({ full: false, base: 0, version: 3, entries: [{ card: OTHER, reason: null }] }));
    expect(outbox.hotlistState().version).toBe(4);
    expect(outbox.hotlisted(tagOf(OTHER))).toBe('opposed');
    // A delta that starts after what is held: the terminal fetches the full list.
    link.push(HOTLIST_TOPIC, hotlistDoc({ full: false, base: 9, version: 12, entries: [] }));
    expect(link.followed.has(HOTLIST_FULL_TOPIC)).toBe(true);
    expect(outbox.hotlistState().version).toBe(4);
  });

  it('device faults at the card end the read cleanly: a clone, a foreign card, a card pulled away, then the genuine card pays once', async () => {
    const sale = rt.sale('SPORT', 1500);
    const genuine = new CardBureau(issuer).card(CARD);
    b.nfc.tap(personaliseCard({ cardNumber: CARD, expiry: '2099-12-31', issuer }).clone());
    b.nfc.tap(new ForeignCard());
    b.nfc.tapUnreadable(genuine);
    b.nfc.tap(personaliseCard({ cardNumber: CARD, expiry: '2020-01-31', issuer }));
    b.nfc.tap({ cardNumber: CARD });
    await until(() => link.sent.length === 1);
    const shown = b.display.screens.map((x) => x.lines[0]);
    for (const code of ['CARD_NOT_GENUINE', 'CARD_NOT_PASS_REGION', 'CARD_REMOVED', 'CARD_EXPIRED'] as const) expect(shown).toContain(CODES[code].fr);
    // Nothing was recorded for the failed reads: the one request is the genuine card's.
    expect(outbox.pending(10)).toHaveLength(1);
    const req = sentRequest();
    expect(req.credential).toEqual({ kind: 'nfc', cardNumber: CARD, proof: { ref: req.txnId, at: expect.any(Number), sig: expect.any(String) } });
    link.reply(debitReply(req, { status: 'approved', taken: 1500, remainingToPay: 0, balanceAfter: 0 }, 1));
    await expect(sale).resolves.toMatchObject({ kind: 'approved' });
    expect(b.nfc.reads).toHaveLength(1);
    // The card signed this very sale: what the gateway checks with the chip's key.
    const c = req.credential;
    assert(c.kind === 'nfc', 'an NFC sale');
    const signed = { ref: c.proof.ref, terminalId: req.terminalId, benefit: req.benefit, amount: req.amount, unit: req.unit, at: c.proof.at };
    expect(verifySaleProof(signed, Buffer.from(c.proof.sig, 'base64url'), b.nfc.reads[0]!.cardPublicKey, new NodeVerifier())).toBe(true);
    expect(verifySaleProof({ ...signed, amount: 1 }, Buffer.from(c.proof.sig, 'base64url'), b.nfc.reads[0]!.cardPublicKey, new NodeVerifier())).toBe(false);
  });

  it('a reader unplugged mid-sale shows the fault; the sale goes on when it is back', async () => {
    const sale = rt.sale('SPORT', 700);
    await until(() => b.display.screens.length > 0);
    b.nfc.contactless.unplug();
    b.nfc.tap({ cardNumber: CARD });
    await new Promise((r) => setTimeout(r, 30));
    b.nfc.contactless.plug();
    await until(() => link.sent.length === 1);
    link.reply(debitReply(sentRequest(), { status: 'approved', taken: 700, remainingToPay: 0, balanceAfter: 0 }, 1));
    await expect(sale).resolves.toMatchObject({ kind: 'approved' });
  });

  it('refuses a second sale while one is in progress', async () => {
    void rt.sale('SPORT', 100);
    await expect(rt.sale('SPORT', 200)).rejects.toMatchObject({ code: 'SALE_IN_PROGRESS' });
    rt.cancel();
  });
});

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
