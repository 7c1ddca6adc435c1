import { afterEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../common/random.ts';
import type { Signer } from '../../protocol/crypto.ts';
import { debitRequest, encodeJson, voidRequest } from '../../protocol/debit.ts';
import { encodeDirect } from '../../protocol/frame.ts';
import type { DebitRequestBody, VoidRequestBody } from '../../protocol/messages.ts';
import { chainHash, GENESIS_HASH } from '../../protocol/offline.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { RawTerminal } from '../helpers/raw-terminal.ts';
import { testProof } from '../helpers/chips.ts';
import { holder, World } from '../helpers/world.ts';

/**
 * Duplicated and reordered delivery of the same records changes nothing: the same records delivered once
 * in order to one gateway, and shuffled with repeats to another, leave the same ledger. And a gap in a
 * terminal's sequence is noticed and the missing records asked for.
 */

const T = 'T-LIB-LYON-01';
const lea = holder('Léa Martin');
const hugo = holder('Hugo Bernard');
const BASE = Date.now();

type Spec = { sale: { card: string; amount: number; mode: 'online' | 'offline' } } | { voidOf: number };

const SPECS: Spec[] = [
  { sale: { card: lea.cardNumber, amount: 300, mode: 'online' } },
  { sale: { card: hugo.cardNumber, amount: 700, mode: 'online' } },
  { sale: { card: lea.cardNumber, amount: 200, mode: 'offline' } },
  { voidOf: 1 },
  { sale: { card: hugo.cardNumber, amount: 500, mode: 'offline' } },
  { sale: { card: lea.cardNumber, amount: 100, mode: 'online' } },
  { voidOf: 5 },
  { sale: { card: hugo.cardNumber, amount: 900, mode: 'online' } },
];

/** The same records (same ids, times and content) for any terminal key, chained in order. */
function records(signer: Signer, txnIds: string[], policy: number): { txnId: string; frame: Buffer }[] {
  let prev = GENESIS_HASH;
  return SPECS.map((s, i) => {
    const seq = i + 1;
    const txnId = txnIds[i]!;
    const createdAt = BASE + i;
    const message =
      'sale' in s
        ? encodeJson(
            debitRequest({
              txnId, terminalId: T, seq, prev, createdAt, mode: s.sale.mode, hotlist: 0, policy,
              credential: { kind: 'nfc', cardNumber: s.sale.card, proof: testProof({ txnId, terminalId: T, benefit: 'LEISURE_BOOKS', amount: s.sale.amount, unit: 'cent' }, s.sale.card, createdAt) },
              benefit: 'LEISURE_BOOKS', amount: s.sale.amount, unit: 'cent',
            } satisfies DebitRequestBody),
          )
        : encodeJson(voidRequest({ txnId, terminalId: T, seq, prev, createdAt, target: txnIds[s.voidOf]!, reason: 'timeout' } satisfies VoidRequestBody));
    prev = chainHash(message);
    return { txnId, frame: encodeDirect(message, signer.sign(message)) };
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const worlds: World[] = [];
const raws: RawTerminal[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.close();
  for (const w of worlds.splice(0)) await w.close();
});

async function setUp(): Promise<{ world: World; raw: RawTerminal; policy: number }> {
  const world = new World();
  worlds.push(world);
  const gw = await world.startGateway({}, { offline: { gapGraceMs: 200 } });
  const raw = await RawTerminal.connect(gw.mqttUrl, T, world.key(T).seed, gw.keys.signPublicKey);
  raws.push(raw);
  const policy = (await gw.ledger.offlineReport()).policy!.version;
  return { world, raw, policy };
}

async function applied(l: World['gateway']['ledger'], txnIds: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const t of txnIds) {
    const kinds = (await l.transfersForTxn(t)).map((x) => x.kind);
    if (kinds.includes('debit') && !kinds.includes('reversal')) out.push(t);
  }
  return out;
}

/** What a delivery leaves: balances, the sales applied and not undone, the result of every record. */
async function state(world: World, txnIds: string[]) {
  const l = world.gateway.ledger;
  return {
    balances: [await l.walletBalance(lea.cardNumber, 'LEISURE_BOOKS'), await l.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS')],
    applied: await applied(l, txnIds),
    audit: await l.audit(),
    sync: await l.terminalSync(T),
  };
}

describe('delivery: duplicated and reordered records', () => {
  it('shuffled, repeated delivery leaves the same ledger as one delivery in order', async () => {
    const txnIds = SPECS.map(() => uuidv7());
    const a = await setUp();
    for (const r of records(a.raw.signer, txnIds, a.policy)) {
      await a.raw.publish(r.frame);
      await a.raw.waitFor(r.txnId);
    }
    const inOrder = await state(a.world, txnIds);
    expect(inOrder.audit).toEqual([]);
    expect(inOrder.applied).toHaveLength(4);

    const b = await setUp();
    const recs = records(b.raw.signer, txnIds, b.policy);
    const rnd = mulberry32(Number(process.env.PASSERELLE_CRASH_SEED ?? 20261121));
    const deliveries = recs.flatMap((r) => Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => r));
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
    }
    await Promise.all(deliveries.map((r) => b.raw.publish(r.frame)));
    await until('every record to be answered', () => txnIds.every((t) => b.raw.replies.some((r) => r.corr === t)));
    // Every copy of one record got the same answer.
    for (const t of txnIds) {
      const answers = new Set(b.raw.replies.filter((r) => r.corr === t).map((r) => JSON.stringify(r)));
      expect(answers.size).toBe(1);
    }
    expect(await state(b.world, txnIds)).toEqual(inOrder);
    // And once more, everything again: nothing moves.
    const repeats = b.world.gateway.pipeline.stats.repeats;
    await Promise.all(recs.map((r) => b.raw.publish(r.frame)));
    await until('the repeats', () => b.world.gateway.pipeline.stats.repeats === repeats + recs.length);
    expect(await state(b.world, txnIds)).toEqual(inOrder);
  });

  it('a gap in the sequence is noticed and the missing records asked for; filling it closes it', async () => {
    const txnIds = SPECS.map(() => uuidv7());
    const a = await setUp();
    const recs = records(a.raw.signer, txnIds, a.policy);
    for (const i of [0, 1, 4]) await a.raw.publish(recs[i]!.frame);
    await until('the gateway to ask for the missing records', () => a.raw.replies.some((r) => r.type === 'sync.missing'), 5000);
    const ask = a.raw.replies.find((r) => r.type === 'sync.missing')!;
    expect(ask.body).toMatchObject({ terminalId: T, seqs: [3, 4] });
    expect(await a.world.gateway.ledger.terminalSync(T)).toMatchObject({ nextSeq: 3, maxSeq: 5, missing: [3, 4] });
    for (const i of [2, 3]) await a.raw.publish(recs[i]!.frame);
    await until('the gap to close', async () => (await a.world.gateway.ledger.terminalSync(T)).missing.length === 0);
    expect(await a.world.gateway.ledger.terminalSync(T)).toMatchObject({ nextSeq: 6, chainBreaks: 0 });
  });

  it('a record reusing a sequence number with other content is refused and counted as a chain break', async () => {
    const a = await setUp();
    const recs = records(a.raw.signer, SPECS.map(() => uuidv7()), a.policy);
    await a.raw.publish(recs[0]!.frame);
    await a.raw.waitFor(recs[0]!.txnId);
    const other = records(a.raw.signer, SPECS.map(() => uuidv7()), a.policy)[0]!;
    await a.raw.publish(other.frame);
    const reply = await a.raw.waitFor(other.txnId);
    expect(reply).toMatchObject({ type: 'error', body: { code: 'SEQ_CONFLICT' } });
    expect((await a.world.gateway.ledger.terminalSync(T)).chainBreaks).toBe(1);
  });
});
