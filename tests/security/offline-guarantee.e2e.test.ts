import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConnectToken } from '../../protocol/connect-token.ts';
import { fromB64url, nodeSigner } from '../../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../../protocol/debit.ts';
import { encodeDirect } from '../../protocol/frame.ts';
import type { Benefit } from '../../protocol/benefits.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { registerTestChips } from '../helpers/chips.ts';
import { debitBody } from '../helpers/debits.ts';
import { freshClaims, RawTerminal } from '../helpers/raw-terminal.ts';
import { holder, World } from '../helpers/world.ts';

/**
 * "The gateway trusts the terminal's word for card presence, hotlist version, sale time and the per-card
 * limits": five sales on one card the same day although the policy allows three, an opposed card sold
 * offline by claiming hotlist version 0, an opposed card sold by back-dating the sale two days. The
 * Region's guarantee is now earned from the gateway's own records: the terminal's contacts (when it
 * connected and how far its outbox went), the hotlist versions and their times, the sales it already sent.
 */

const world = new World();
const T = 'T-LIB-LYON-01';
const lea = holder('Léa Martin');
const hugo = holder('Hugo Bernard');
const ines = holder('Inès Petit');
const MINUTE = 60_000;
let seq = 0;
let raw: RawTerminal | undefined;

beforeAll(async () => {
  await world.startGateway({}, { offline: { limits: { maxPendingCount: 6 } } });
});
afterAll(async () => {
  await raw?.close();
  await world.close();
});

/**
 * The rogue terminal (re)connects, declaring its outbox head truthfully: the gateway records the contact.
 * Contacts are written in batches (every 250 ms); the sales below come after this one is on record.
 */
async function connect(): Promise<RawTerminal> {
  await raw?.close();
  const signer = nodeSigner(fromB64url(world.key(T).seed, 32, 'seed'));
  raw = await RawTerminal.connect(world.gateway.mqttUrl, T, world.key(T).seed, world.gateway.keys.signPublicKey, makeConnectToken(T, signer, freshClaims(T, seq)));
  await new Promise((r) => setTimeout(r, 400));
  return raw;
}

/** A card issued an hour ago, with no benefit loaded, its chip recorded. */
async function freshCard(digits: string): Promise<string> {
  const card = cardNumberFrom(digits);
  await world.gateway.ledger.issueCard({ number: card, holder: `Jeune ${digits.slice(-4)}`, pinHash: null, at: Date.now() - 60 * MINUTE });
  await registerTestChips(world.gateway.ledger, [card]);
  return card;
}

/** An offline sale with a genuine card signature (the card was there), claiming what the test says. */
async function offline(card: string, benefit: Benefit, amount: number, o: Partial<DebitRequestBody> = {}): Promise<DebitRequestBody> {
  return debitBody({ terminalId: T, cardNumber: card, benefit, amount, seq: ++seq, mode: 'offline', policy: 1, hotlist: await world.gateway.ledger.hotlistVersion(), createdAt: Date.now(), ...o });
}

async function send(b: DebitRequestBody) {
  const message = encodeJson(debitRequest(b));
  await raw!.publish(encodeDirect(message, raw!.signer.sign(message)));
  return raw!.waitFor(b.txnId);
}

const report = async () => await world.gateway.ledger.offlineReport();

describe('the offline guarantee is earned, not claimed', () => {
  it('five sales on one card the same day at one terminal: the policy allows three, the Region guarantees three', async () => {
    await connect();
    const before = (await report()).guaranteedCents;
    // Léa has no school-books benefit: each sale is the Region's to pay, if it is guaranteed at all.
    // Made while the link was down, with the hotlist the terminal then held; sent when it came back.
    const sales = [];
    for (let i = 0; i < 5; i++) sales.push(await offline(lea.cardNumber, 'SCHOOL_BOOKS', 2000));
    const replies = [];
    for (const b of sales) replies.push(await send(b));
    expect(replies.map((r) => (r.type === 'debit.reply' ? (r.body.code ?? r.body.status) : r.type))).toEqual(['approved', 'approved', 'approved', 'OFFLINE_POLICY_BREACH', 'OFFLINE_POLICY_BREACH']);
    expect((await report()).guaranteedCents - before).toBe(3 * 2000);
    expect((await report()).flaggedTerminals).toEqual([expect.objectContaining({ terminalId: T, kinds: expect.objectContaining({ 'card-day': 2 }) })]);
  });

  it('an opposed card sold offline by claiming hotlist version 0: the gateway knows which list the terminal had', async () => {
    // Hugo's card was opposed a minute ago; the terminal connected after that.
    await world.gateway.ledger.oppose({ cardNumber: hugo.cardNumber, reason: 'stolen', at: Date.now() - MINUTE });
    await connect();
    const r = await send(await offline(hugo.cardNumber, 'LEISURE_BOOKS', 1000, { hotlist: 0 }));
    expect(r).toMatchObject({ body: { status: 'declined', code: 'OFFLINE_POLICY_BREACH' } });
    expect((await report()).flaggedTerminals[0]?.kinds).toMatchObject({ hotlisted: 1 });
  });

  it('an opposed card sold by back-dating the sale two days: implausible for the terminal, not guaranteed, nothing taken', async () => {
    await world.gateway.ledger.oppose({ cardNumber: ines.cardNumber, reason: 'stolen', at: Date.now() - MINUTE });
    await connect();
    const balance = await world.gateway.ledger.walletBalance(ines.cardNumber, 'LEISURE_BOOKS');
    const twoDaysAgo = Date.now() - 2 * 24 * 60 * MINUTE;
    const r = await send(await offline(ines.cardNumber, 'LEISURE_BOOKS', 1000, { createdAt: twoDaysAgo, hotlist: 0 }));
    expect(r).toMatchObject({ body: { status: 'declined', code: 'OFFLINE_POLICY_BREACH' } });
    expect(await world.gateway.ledger.walletBalance(ines.cardNumber, 'LEISURE_BOOKS')).toBe(balance);
    expect((await report()).flaggedTerminals[0]?.kinds).toMatchObject({ time: 1 });
  });

  it('more offline sales pending than the policy allows, in one stretch without contact: the excess is not guaranteed', async () => {
    await connect();
    const codes = [];
    // Seven youths without the benefit, once each, in one stretch without contact: six pending is the
    // terminal's limit here, the seventh is over it.
    const cards: string[] = [];
    for (let i = 0; i < 7; i++) cards.push(await freshCard(`82501234568${String(i).padStart(4, '0')}`));
    const sales = [];
    for (const card of cards) sales.push(await offline(card, 'SCHOOL_BOOKS', 500));
    for (const b of sales) {
      const r = await send(b);
      codes.push(r.type === 'debit.reply' ? (r.body.code ?? r.body.status) : r.type);
    }
    expect(codes.slice(0, 6)).toEqual(Array(6).fill('approved'));
    expect(codes[6]).toBe('OFFLINE_POLICY_BREACH');
    expect((await report()).flaggedTerminals[0]?.kinds).toMatchObject({ pending: 1 });
  });

  it('what the terminal could not know is still guaranteed: a card opposed after its last contact', async () => {
    const card = cardNumberFrom('825012345679001');
    const l = world.gateway.ledger;
    await l.issueCard({ number: card, holder: 'Nina Morel', pinHash: null, at: Date.now() - 60 * MINUTE });
    await l.load({ cardNumber: card, benefit: 'LEISURE_BOOKS', campaign: (await l.campaigns())[0]!.id, amount: 1500, at: Date.now() - 60 * MINUTE });
    await registerTestChips(l, [card]);
    await connect();
    const before = (await report()).guaranteedCents;
    // Opposed now: after the terminal's last contact, so after the hotlist it received.
    await l.oppose({ cardNumber: card, reason: 'lost', at: Date.now() });
    const r = await send(await offline(card, 'LEISURE_BOOKS', 1000, { hotlist: 0, createdAt: Date.now() + 1 }));
    expect(r).toMatchObject({ body: { status: 'approved', guaranteed: 1000 } });
    expect((await report()).guaranteedCents - before).toBe(1000);
    expect(await l.audit()).toEqual([]);
  });
});
