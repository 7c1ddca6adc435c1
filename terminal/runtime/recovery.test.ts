import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { nodeSigner } from '../../protocol/crypto.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { Outbox } from '../outbox.ts';
import type { Sale } from '../sale.ts';
import { RecordWriter } from './records.ts';
import { recoverAfterRestart } from './recovery.ts';

/** What a terminal does with its outbox when it starts again. */

const NOW = Date.parse('2026-09-01T08:00:00Z');
const SALE: Sale = { benefit: 'SPORT', unit: 'cent', amount: 1200 };
const CARD = cardNumberFrom('825000000000001');

let outbox: Outbox;
let records: RecordWriter;

beforeEach(() => {
  outbox = new Outbox({ file: ':memory:', maxPending: 10 });
  records = new RecordWriter({ outbox, signer: nodeSigner(randomBytes(32)), terminalId: 'T-TEST-01', clock: { now: () => NOW }, newTxnId: () => uuidv7(NOW) });
});
afterEach(() => outbox.close());

function sell(mode: 'online' | 'offline'): string {
  const txnId = uuidv7(NOW);
  records.sale(txnId, SALE, { kind: 'nfc', cardNumber: CARD, proof: { ref: txnId, at: NOW, sig: 'A'.repeat(86) } }, mode);
  return txnId;
}

describe('recoverAfterRestart', () => {
  it('a first start shows nothing of a last sale', () => {
    expect(recoverAfterRestart({ outbox, records, log: silentLogger })).toBeUndefined();
  });

  it('voids the online sales cut before their result was shown, and shows the last sale as interrupted', () => {
    const offline = sell('offline');
    const online = sell('online');
    const screen = recoverAfterRestart({ outbox, records, log: silentLogger });
    expect(screen?.lines[0]).toBe('DERNIÈRE VENTE INTERROMPUE');
    const voidedBy = outbox.entry(online)?.voidedBy;
    expect(outbox.entry(voidedBy!)).toMatchObject({ kind: 'void', target: online, seq: 3 });
    expect(outbox.entry(offline)?.voidedBy).toBeNull();
    // Started again: nothing more to void.
    recoverAfterRestart({ outbox, records, log: silentLogger });
    expect(outbox.stats().pending).toBe(3);
  });
});
