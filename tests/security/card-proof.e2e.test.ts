import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { challengeMessage, saleChallenge } from '../../protocol/card-app.ts';
import { nodeSigner } from '../../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../../protocol/debit.ts';
import { encodeDirect } from '../../protocol/frame.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { testProof } from '../helpers/chips.ts';
import { debitBody } from '../helpers/debits.ts';
import type { RawTerminal } from '../helpers/raw-terminal.ts';
import { holder, World } from '../helpers/world.ts';

/**
 * "From one terminal key, all approved: an online NFC debit of a real youth's card with no card present;
 * five 30 € offline sales on never-issued card numbers, each paid by the Region's guarantee." The card
 * now signs each sale (its proof, checked by the gateway with the chip key recorded at personalisation):
 * no card signature, no NFC debit; a signature counts for one sale.
 */

const world = new World();
const T = 'T-LIB-LYON-01';
const lea = holder('Léa Martin');
let raw: RawTerminal;
let seq = 1_000;

beforeAll(async () => {
  await world.startGateway();
  raw = await world.raw(T);
});
afterAll(() => world.close());

const balance = async () => await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS');

/** A sale of Léa's leisure books at this terminal, its card proof made by her test chip unless overridden. */
function sale(o: Partial<DebitRequestBody> & { amount?: number } = {}): DebitRequestBody {
  return debitBody({ terminalId: T, cardNumber: lea.cardNumber, benefit: 'LEISURE_BOOKS', amount: 100, seq: ++seq, createdAt: Date.now(), ...o });
}

async function send(b: DebitRequestBody | Record<string, unknown>) {
  const message = encodeJson(debitRequest(b as DebitRequestBody));
  await raw.publish(encodeDirect(message, raw.signer.sign(message)));
  return raw.waitFor((b as DebitRequestBody).txnId);
}

describe('no card, no NFC debit', () => {
  it('an NFC request without the card’s signature is refused, and no money moves', async () => {
    const before = await balance();
    const b = sale();
    const noProof = { ...b, credential: { kind: 'nfc', cardNumber: lea.cardNumber } };
    expect(await send(noProof)).toMatchObject({ type: 'error', body: { code: 'BAD_SCHEMA' } });
    expect(await balance()).toBe(before);
    expect(await world.gateway.ledger.request(b.txnId)).toBeUndefined();
  });

  it('a signature made with any other key than the chip’s is declined CARD_NOT_AUTHENTICATED', async () => {
    const before = await balance();
    const b = sale();
    const forger = nodeSigner(randomBytes(32));
    const at = Date.now();
    const sig = forger.sign(challengeMessage(saleChallenge({ ref: b.txnId, terminalId: T, benefit: b.benefit, amount: b.amount, unit: b.unit, at })));
    const forged = { ...b, credential: { kind: 'nfc' as const, cardNumber: lea.cardNumber, proof: { ref: b.txnId, at, sig: Buffer.from(sig).toString('base64url') } } };
    expect(await send(forged)).toMatchObject({ type: 'debit.reply', body: { status: 'declined', code: 'CARD_NOT_AUTHENTICATED' } });
    expect(await balance()).toBe(before);
  });

  it('a genuine signature does not stretch to another amount, nor to a second sale', async () => {
    const first = sale({ amount: 100 });
    expect(await send(first)).toMatchObject({ body: { status: 'approved', taken: 100 } });
    const after = await balance();
    // The same card signature on a bigger amount.
    const bigger = { ...sale({ amount: 1500 }), credential: first.credential };
    expect(await send(bigger)).toMatchObject({ body: { status: 'declined', code: 'CARD_NOT_AUTHENTICATED' } });
    // The same signature and sale again under a new id, online.
    const again = { ...first, txnId: uuidv7(), seq: ++seq };
    expect(await send(again)).toMatchObject({ body: { status: 'declined', code: 'CARD_NOT_AUTHENTICATED' } });
    expect(await balance()).toBe(after);
  });

  it('offline, one tap pays once: a sale may take over the proof of its own voided request, once', async () => {
    const online = sale({ amount: 200 });
    expect(await send(online)).toMatchObject({ body: { status: 'approved' } });
    const after = (await balance())!;
    const policy = 1;
    const hotlist = await world.gateway.ledger.hotlistVersion();
    // The terminal judged the sale offline after its request went unanswered: the offline sale carries the
    // request's proof; the request is voided, the offline sale settles: one debit in all.
    const takeover = { ...sale({ amount: 200, mode: 'offline', policy, hotlist }), credential: online.credential };
    expect(await send(takeover)).toMatchObject({ body: { status: 'approved', mode: 'offline' } });
    expect(await balance()).toBe(after);
    expect((await world.gateway.ledger.transfersForTxn(online.txnId)).map((t) => t.kind).sort()).toEqual(['debit', 'reversal']);
    // A second taker of the same proof is declined, and the Region guarantees nothing for it.
    const second = { ...sale({ amount: 200, mode: 'offline', policy, hotlist }), credential: online.credential };
    expect(await send(second)).toMatchObject({ body: { status: 'declined', code: 'CARD_NOT_AUTHENTICATED' } });
    expect(await balance()).toBe(after);
    expect(await world.gateway.ledger.audit()).toEqual([]);
  });

  it('five 30 € offline sales on never-issued card numbers: none is paid, none guaranteed, each a breach', async () => {
    const before = await world.gateway.ledger.offlineReport();
    for (let i = 0; i < 5; i++) {
      const card = cardNumberFrom(`82509999999${String(i).padStart(4, '0')}`);
      const b = debitBody({ terminalId: T, cardNumber: card, benefit: 'LEISURE_BOOKS', amount: 3000, seq: ++seq, createdAt: Date.now(), mode: 'offline', policy: 1, hotlist: await world.gateway.ledger.hotlistVersion() });
      // The rogue signs with chips it made up: the gateway has no key for a card it never issued.
      const made = { ...b, credential: { kind: 'nfc' as const, cardNumber: card, proof: testProof(b, card, b.createdAt) } };
      expect(await send(made)).toMatchObject({ body: { status: 'declined', code: 'CARD_NOT_AUTHENTICATED', mode: 'offline' } });
    }
    const after = await world.gateway.ledger.offlineReport();
    expect(after.guaranteedCents).toBe(before.guaranteedCents);
    expect(after.breaches - before.breaches).toBe(5);
    expect(await world.gateway.ledger.audit()).toEqual([]);
  });
});
