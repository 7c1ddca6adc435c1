import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { naclSigner, nodeSigner, type Signer } from '../protocol/crypto.ts';
import { encodeJson } from '../protocol/debit.ts';
import { decodeFrame, encodeBatch } from '../protocol/frame.ts';
import { buildTree, leafHash, rootMessage } from '../protocol/merkle.ts';
import { DebitRequest, parseJson } from '../protocol/messages.ts';
import { debitReply, errorReply } from '../gateway/replies.ts';
import type { Link, LinkHandlers } from './link.ts';
import { Outbox } from './outbox.ts';
import { TerminalRuntime } from './runtime.ts';
import { simBindings, type SimBindings } from './sim-bindings.ts';

/** The runtime against a fake link: what it sends, when, and which replies it trusts. */

const TID = 'T-TEST-01';
const CARD = cardNumberFrom('825000000000001');
const gateway = nodeSigner(randomBytes(32));

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
  send(frame: Buffer): boolean {
    if (!this.up) return false;
    this.onSend?.(frame);
    this.sent.push(frame);
    return true;
  }
  async stop(): Promise<void> {}
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
let rt: TerminalRuntime;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-rt-'));
  link = new FakeLink();
  outbox = new Outbox({ file: join(dir, 'outbox.sqlite'), maxPending: 3 });
  b = simBindings(new Uint8Array(32));
  rt = new TerminalRuntime({
    config: {
      terminalId: TID,
      gatewayUrl: 'mqtt://127.0.0.1:1',
      outboxFile: '',
      benefits: ['SPORT'],
      replyTimeoutMs: 300,
      resendIntervalMs: 100,
      resendBatch: 10,
      maxPending: 3,
      backoffBaseMs: 10,
      backoffMaxMs: 100,
      connectTimeoutMs: 1000,
      keepaliveS: 30,
    },
    bindings: b,
    outbox,
    link,
    signer: naclSigner(randomBytes(32)),
    gatewaySignPublicKey: gateway.publicKey,
    log: silentLogger,
  });
  rt.start();
});

afterEach(async () => {
  await rt.stop();
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

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
    await expect(sale).resolves.toEqual({ kind: 'pending', txnId: req.txnId });
    expect(outbox.entry(req.txnId)?.state).toBe('pending');
    await until(() => link.sent.length >= 2);
    expect(link.sent[1]!.equals(link.sent[0]!)).toBe(true);
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

  it('with the link down the sale is committed, not sent; it goes out when the link comes up', async () => {
    link.up = false;
    const sale = rt.sale('SPORT', 700);
    b.nfc.tap({ cardNumber: CARD });
    await expect(sale).resolves.toMatchObject({ kind: 'pending' });
    expect(link.sent).toHaveLength(0);
    expect(rt.outboxStats().pending).toBe(1);
    link.up = true;
    link.handlers!.up();
    expect(link.sent).toHaveLength(1);
    expect(sentRequest()).toMatchObject({ seq: 1, amount: 700 });
  });

  it('refuses a new sale when the outbox is full, recording nothing', async () => {
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
