import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { nodeSigner, NodeVerifier } from '../../protocol/crypto.ts';
import { decodeFrame, verifyFrame } from '../../protocol/frame.ts';
import { DebitRequest, parseJson, VoidRequest } from '../../protocol/messages.ts';
import { chainHash, DEFAULT_OFFLINE_LIMITS, GENESIS_HASH } from '../../protocol/offline.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { codeOf } from '../../tests/helpers/errors.ts';
import { Outbox } from '../outbox.ts';
import type { CredentialDraft, Sale } from '../sale.ts';
import { RecordWriter } from './records.ts';

/** Records built and signed on an outbox in memory: what the gateway will read, byte for byte. */

const signer = nodeSigner(randomBytes(32));
const NOW = Date.parse('2026-09-01T08:00:00Z');
const SALE: Sale = { benefit: 'SPORT', unit: 'cent', amount: 1500 };
const CARD = cardNumberFrom('825000000000001');

let outbox: Outbox;
let writer: RecordWriter;
const minted: string[] = [];

beforeEach(() => {
  outbox = new Outbox({ file: ':memory:', maxPending: 1 });
  writer = new RecordWriter({ outbox, signer, terminalId: 'T-TEST-01', clock: { now: () => NOW }, newTxnId: () => (minted.push(uuidv7(NOW)), minted.at(-1)!) });
});
afterEach(() => outbox.close());

const credential = (ref: string): CredentialDraft => ({ kind: 'nfc', cardNumber: CARD, proof: { ref, at: NOW, sig: 'A'.repeat(86) } });

/** The message of a frame, once its signature verified with the terminal's key. */
function signedMessage(frame: Buffer): Buffer {
  const f = decodeFrame(frame);
  expect(verifyFrame(f, signer.publicKey, new NodeVerifier())).toBe(true);
  return f.message;
}

describe('RecordWriter', () => {
  it('a sale is signed with the sequence number, the chain head and the versions of the documents held', () => {
    outbox.setPolicy({ version: 4, issuedAt: NOW, limits: DEFAULT_OFFLINE_LIMITS });
    outbox.applyHotlist({ full: true, base: 0, version: 7, issuedAt: NOW, entries: [] });
    const txnId = uuidv7(NOW);
    const e = writer.sale(txnId, SALE, credential(txnId), 'offline');
    expect(e).toMatchObject({ kind: 'sale', seq: 1, txnId, mode: 'offline', card: CARD, benefit: 'SPORT', unit: 'cent', amount: 1500, createdAt: NOW, state: 'pending' });
    const req = parseJson(DebitRequest, signedMessage(e.frame), 'request');
    expect(req.corr).toBe(txnId);
    expect(req.body).toEqual({ txnId, terminalId: 'T-TEST-01', seq: 1, prev: GENESIS_HASH, createdAt: NOW, mode: 'offline', hotlist: 7, policy: 4, credential: credential(txnId), benefit: 'SPORT', amount: 1500, unit: 'cent' });
  });

  it("a void names its target, gets an id of its own, chains to the sale, and is kept beyond the outbox's limit", async () => {
    const txnId = uuidv7(NOW);
    const sale = writer.sale(txnId, SALE, credential(txnId), 'online');
    expect(await codeOf(() => writer.sale(uuidv7(NOW), SALE, credential('x'), 'online'))).toBe('OUTBOX_FULL');
    const v = writer.voidSale(txnId, 'timeout');
    expect(v).toMatchObject({ kind: 'void', seq: 2, txnId: minted.at(-1), target: txnId });
    const req = parseJson(VoidRequest, signedMessage(v.frame), 'void');
    expect(req.body).toEqual({ txnId: minted.at(-1), terminalId: 'T-TEST-01', seq: 2, prev: chainHash(decodeFrame(sale.frame).message), createdAt: NOW, target: txnId, reason: 'timeout' });
    expect(outbox.entry(txnId)?.voidedBy).toBe(v.txnId);
  });
});
