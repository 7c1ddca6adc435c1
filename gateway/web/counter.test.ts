import { describe, expect, it } from 'vitest';
import nacl from 'tweetnacl';
import { requestFingerprint } from '../../protocol/debit.ts';
import { chainHash } from '../../protocol/offline.ts';
import { openPin } from '../../protocol/pin.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { settledCode } from '../../tests/helpers/errors.ts';
import { CARD, NOW, POOR, seed } from '../ledger/fixture.contract.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import { SqliteLedger } from '../ledger/sqlite.ts';
import { webChannelId } from '../ledger/registry.ts';
import { WebCounter } from './counter.ts';

/**
 * The web counter on a real ledger, with the pipeline's part played by a direct commit whose code check
 * opens the sealed block with the box key (the right code is 1234): one id per attempt, one record chain
 * per partner, and another gateway's counter taking the same sequence number.
 */

const box = nacl.box.keyPair();

async function world() {
  const ledger = new SqliteLedger({ file: ':memory:' });
  await seed(ledger);
  const submit = async (body: DebitRequestBody, message: Buffer) => {
    await new Promise((r) => setImmediate(r));
    const pin = body.credential.kind === 'qr' && openPin(body.credential.pinBlock, body.txnId, box.secretKey) === '1234' ? 'ok' : 'incorrect';
    return (await ledger.commitDebits([{ body, fingerprint: requestFingerprint(body), pin, proof: 'not-needed', msgHash: chainHash(message) }], NOW))[0]!;
  };
  const counter = () => new WebCounter({ ledger, submit, boxPublicKey: box.publicKey, channelKey: new Uint8Array(32).fill(9), now: () => NOW });
  return { ledger, counter };
}

const sale = (o: Partial<Parameters<WebCounter['sell']>[0]> = {}) => ({ partnerId: 'P-BOOK', txnId: uuidv7(), cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: '5,00', code: '1234', ...o });

describe('the web counter', () => {
  it('decides a sale once: the same form again gets the first answer, another sale on its id is refused', async () => {
    const { ledger, counter } = await world();
    const c = counter();
    const s = sale();
    expect(await c.sell(s)).toMatchObject({ status: 'approved', taken: 500, remainingToPay: 0, repeat: false, cardNumber: CARD });
    expect(await c.sell(s)).toMatchObject({ status: 'approved', taken: 500, repeat: true, cardNumber: CARD });
    expect(await ledger.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1000);
    for (const other of [{ cardNumber: POOR }, { amount: '9,00' }, { benefit: 'SCHOOL_BOOKS' }]) {
      expect(await settledCode(c.sell({ ...s, ...other })), JSON.stringify(other)).toBe('TXN_CONFLICT');
    }
    // Another partner's form carrying this id learns nothing of the sale.
    expect(await settledCode(c.sell({ ...s, partnerId: 'P-BOOK2' }))).toBe('TXN_CONFLICT');
    expect(await ledger.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1000);
  });

  it("continues one record chain per partner, sales one after the other, even sent at once and through two gateways", async () => {
    const { ledger, counter } = await world();
    const a = counter();
    const b = counter();
    const results = await Promise.all([a.sell(sale({ amount: '1' })), b.sell(sale({ amount: '1' })), a.sell(sale({ amount: '1' })), b.sell(sale({ amount: '1' }))]);
    expect(results.map((r) => r.status)).toEqual(['approved', 'approved', 'approved', 'approved']);
    const sync = await ledger.terminalSync(webChannelId('P-BOOK'));
    expect(sync).toMatchObject({ nextSeq: 5, maxSeq: 4, missing: [] });
    // The two counters did meet on a number: the ledger refused the second (recorded), which took the next.
    expect(sync.chainBreaks).toBeGreaterThan(0);
    expect(await ledger.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1100);
  });

  it('a wrong code is declined and counted; what was typed wrong is refused with its code and nothing recorded', async () => {
    const { ledger, counter } = await world();
    const c = counter();
    expect(await c.sell(sale({ code: '0000' }))).toMatchObject({ status: 'declined', code: 'PIN_INCORRECT', taken: 0 });
    expect(await settledCode(c.sell(sale({ cardNumber: '1000000000000018' })))).toBe('CARD_NUMBER_INVALID');
    expect(await settledCode(c.sell(sale({ amount: '12,345' })))).toBe('AMOUNT_INVALID');
    expect(await settledCode(c.sell(sale({ code: '12a4' })))).toBe('SECRET_CODE_FORMAT');
    expect(await settledCode(c.sell(sale({ benefit: 'CINEMA' })))).toBe('BENEFIT_NOT_ALLOWED');
    expect(await settledCode(c.sell(sale({ txnId: 'not-an-id' })))).toBe('DATA_INVALID');
    expect(await settledCode(c.sell(sale({ partnerId: 'P-NOPE' })))).toBe('NOT_FOUND');
    expect((await ledger.terminalSync(webChannelId('P-BOOK'))).maxSeq).toBe(1);
    // The channel is the gateway's: registered once, with the key it was given, and no device list shows it.
    expect((await ledger.terminalsOf('P-BOOK')).map((t) => t.id)).not.toContain(webChannelId('P-BOOK'));
    expect((await ledger.fleet({ partnerId: 'P-BOOK', limit: 10 })).map((e) => e.terminalId)).not.toContain(webChannelId('P-BOOK'));
  });
});
