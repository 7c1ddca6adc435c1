import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { debitRequest, encodeJson } from '../../protocol/debit.ts';
import { encodeDirect } from '../../protocol/frame.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import { sealPin } from '../../protocol/pin.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { debitBody } from '../helpers/debits.ts';
import { RawTerminal } from '../helpers/raw-terminal.ts';
import { holder, World } from '../helpers/world.ts';

/**
 * "No limits on rates. One terminal stored 72,000 declined requests and 72,850 chain-break rows in 20 s
 * (+56 MB). The API never answers 429; any terminal can lock any youth's QR code with three wrong tries.
 * A partner's group sale debits any card number with no card present."
 */

const world = new World();
let tokens: { operator: string; technician: string; partner: string };

beforeAll(async () => {
  await world.startGateway({}, { limits: { terminalRecords: { points: 300, durationS: 600 } }, http: { rateLimit: { perMinute: 120, anonymousPerMinute: 30 } } });
  tokens = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')) as typeof tokens;
});
afterAll(() => world.close());

async function sendAll(raw: RawTerminal, bodies: DebitRequestBody[]) {
  for (const b of bodies) {
    const message = encodeJson(debitRequest(b));
    // Not awaited one by one: a burst. A publish still unacknowledged when the test closes the link is moot.
    raw.publish(encodeDirect(message, raw.signer.sign(message))).catch(() => undefined);
  }
  return Promise.all(bodies.map((b) => raw.waitFor(b.txnId, 20_000)));
}

describe('a terminal cannot fill the ledger', () => {
  it('3,000 requests in a burst: the gateway stores at most its quota, answers RATE_LIMITED (retryable) to the rest', async () => {
    const T = 'T-CIN-VBN-01';
    const raw = await RawTerminal.connect(world.gateway.mqttUrl, T, world.key(T).seed, world.gateway.keys.signPublicKey);
    const before = (await world.gateway.ledger.counts()).requests;
    // Never-issued cards, numbers out of order: each a decline and a chain break, were it stored.
    const bodies = Array.from({ length: 3000 }, (_, i) =>
      debitBody({ terminalId: T, cardNumber: cardNumberFrom(`9${String(i).padStart(14, '0')}`), benefit: 'CINEMA', amount: 1, seq: 1 + 2 * i, createdAt: Date.now() }),
    );
    const replies = await sendAll(raw, bodies);
    const limited = replies.filter((r) => r.type === 'error' && r.body.code === 'RATE_LIMITED').length;
    const stored = (await world.gateway.ledger.counts()).requests - before;
    expect(stored).toBeLessThanOrEqual(300);
    expect(limited).toBeGreaterThanOrEqual(2700);
    expect((await world.gateway.ledger.terminalSync(T)).chainBreaks).toBeLessThanOrEqual(600);
    // A repeat of a stored request is still answered (its original reply), quota or not.
    const first = bodies[0]!;
    const again = await sendAll(raw, [first]);
    expect(again[0]).toEqual(replies[0]);
    await raw.close();
  });
});

describe('HTTP answers 429 with Retry-After', () => {
  it('a token over its rate is refused for a while, in the error envelope', async () => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 130; i++) {
      const res = await fetch(`${world.gateway.httpUrl}/api/v1/partners`, { headers: { authorization: `Bearer ${tokens.technician}` } });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
      else await res.arrayBuffer();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(120);
    expect(limited).toBeDefined();
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited!.json()).toMatchObject({ error: { code: 'RATE_LIMITED', fr: expect.stringContaining('Trop de demandes') } });
    // Another token is not slowed by it.
    expect((await fetch(`${world.gateway.httpUrl}/api/v1/partners`, { headers: { authorization: `Bearer ${tokens.operator}` } })).status).toBe(200);
  });

  it('requests without a token are limited per address, tighter', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await fetch(`${world.gateway.httpUrl}/api/v1/enrolments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    // Unknown URLs are counted too: guessing them is not free.
    expect((await fetch(`${world.gateway.httpUrl}/api/v1/no-such-route`)).status).toBe(429);
  });
});

describe('no terminal can lock a youth out of her code', () => {
  it('a rogue terminal sending wrong codes for a youth blocks her only at its own shop, for the day', async () => {
    const lea = holder('Léa Martin');
    const rogueId = 'T-LIB-LYON-02';
    const rogue = await RawTerminal.connect(world.gateway.mqttUrl, rogueId, world.key(rogueId).seed, world.gateway.keys.signPublicKey);
    const qr = (terminalId: string, pin: string, benefit: 'LEISURE_BOOKS' | 'SHOWS', n: number): DebitRequestBody => {
      const txnId = uuidv7();
      return debitBody({ terminalId, txnId, cardNumber: lea.cardNumber, benefit, amount: 100, seq: n, createdAt: Date.now(), credential: { kind: 'qr', cardNumber: lea.cardNumber, pinBlock: sealPin(pin, txnId, world.gateway.keys.boxPublicKey) } });
    };
    const codes = (await sendAll(rogue, Array.from({ length: 6 }, (_, i) => qr(rogueId, '0000', 'LEISURE_BOOKS', 10_000 + i)))).map((r) => (r.type === 'debit.reply' ? r.body.code : r.type));
    // Sent together: decided in whatever order their checks finish, three wrong and three refused untried.
    expect(codes.sort()).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT_BLOCKED', 'PIN_TRIES_EXCEEDED', 'PIN_TRIES_EXCEEDED', 'PIN_TRIES_EXCEEDED']);
    await rogue.close();
    // At the theatre, Léa's right code still works.
    const venueId = 'T-SPEC-CLF-01';
    const venue = await RawTerminal.connect(world.gateway.mqttUrl, venueId, world.key(venueId).seed, world.gateway.keys.signPublicKey);
    const [ok] = await sendAll(venue, [qr(venueId, lea.pin!, 'SHOWS', 20_000)]);
    expect(ok).toMatchObject({ type: 'debit.reply', body: { status: 'approved' } });
    await venue.close();
  });
});

describe('group sales need the Region’s list', () => {
  it('a partner’s group sale on cards no list approved is refused and debits nothing', async () => {
    const cinemaToken = (await (await fetch(`${world.gateway.httpUrl}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Cinéma', role: 'partner', partnerId: 'P-CIN-VBN' }) })).json()) as { token: string };
    const cards = ['Léa Martin', 'Hugo Bernard', 'Inès Petit'].map((n) => holder(n).cardNumber);
    const balances = () => Promise.all(cards.map((c) => world.gateway.ledger.walletBalance(c, 'CINEMA')));
    const before = await balances();
    const res = await fetch(`${world.gateway.httpUrl}/api/v1/group-sales`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cinemaToken.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ groupId: 'G-ROGUE-1', benefit: 'CINEMA', amountPerYouth: 5, cardNumbers: cards, reference: 'sortie inventée' }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await balances()).toEqual(before);
  });
});
