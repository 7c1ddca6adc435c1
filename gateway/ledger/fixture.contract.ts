import { beforeEach } from 'vitest';
import type { Benefit } from '../../protocol/benefits.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { voidFingerprint } from '../../protocol/debit.ts';
import { DebitReply, parseJson, type VoidRequestBody } from '../../protocol/messages.ts';
import { GENESIS_HASH } from '../../protocol/offline.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import { defaultWindows } from '../campaigns.ts';
import type { PinCheck } from '../rules.ts';
import type { CommitOutcome, Ledger, LedgerRules, VoidItem } from './ledger.ts';

/**
 * What every role's contract starts from (gateway/ledger/*.contract.ts): a ledger backend's factory, the
 * seeded partners, terminals and cards, and the helpers that sell, void and approve on it.
 */

/** Returns a fresh, empty ledger (with the given rules, or the defaults). */
export type OpenLedger = (rules?: LedgerRules) => Ledger | Promise<Ledger>;

/** Paris time, campaign 2022/2023. */
export const at = (iso: string) => Date.parse(iso);
/** Monday 3 October 2022, 10:00 in Lyon: every window of campaign 2022/2023 is open. */
export const NOW = at('2022-10-03T10:00:00+02:00');
export const DAY = 86_400_000;

export const KEY = new Uint8Array(32).fill(7);
export const CARD = cardNumberFrom('100000000000001');
export const OPPOSED = cardNumberFrom('100000000000002');
export const BARE = cardNumberFrom('100000000000003');
export const POOR = cardNumberFrom('100000000000005');
export const UNKNOWN = cardNumberFrom('100000000000009');
export const NEW_CARD = cardNumberFrom('100000000000011');

export const T = {
  book: 'T-BOOK-01',
  bookOff: 'T-BOOK-02',
  cinema: 'T-CINE-01',
  museum: 'T-MUSE-01',
  auto: 'T-AUTO-01',
  venue: 'T-VENU-01',
  equip: 'T-EQUI-01',
  old: 'T-OLDB-01',
  aid: 'T-AIDE-01',
} as const;

export const CONVENTION = { conventionFrom: '2022-06-01', conventionTo: '2027-05-31' };

export async function seed(l: Ledger): Promise<void> {
  await l.addCampaign({ id: '2022-2023', windows: defaultWindows('2022-2023') });
  await l.addCampaign({ id: '2023-2024', windows: defaultWindows('2023-2024') });
  await l.addPartner({ id: 'P-BOOK', name: 'Librairie', type: 'bookshop', ...CONVENTION });
  await l.addPartner({ id: 'P-BOOK2', name: 'Autre librairie', type: 'bookshop', ...CONVENTION });
  await l.addPartner({ id: 'P-CINE', name: 'Cinéma', type: 'cinema', ...CONVENTION, entryPriceCents: 550 });
  await l.addPartner({ id: 'P-MUSE', name: 'Musée', type: 'museum', ...CONVENTION, entryPriceCents: 200 });
  await l.addPartner({ id: 'P-AUTO', name: 'Auto-école', type: 'driving_school', ...CONVENTION });
  await l.addPartner({ id: 'P-VENU', name: 'Théâtre', type: 'venue', ...CONVENTION });
  await l.addPartner({ id: 'P-EQUI', name: 'Outillage', type: 'equipment_shop', ...CONVENTION });
  await l.addPartner({ id: 'P-AIDE', name: 'Secourisme', type: 'training_body', ...CONVENTION });
  // Its 2017/2022 convention ended on 31 May 2022 and was not renewed (R10, source 003).
  await l.addPartner({ id: 'P-OLDB', name: 'Ancienne librairie', type: 'bookshop', conventionFrom: '2017-06-01', conventionTo: '2022-05-31' });
  const terminals: [string, string][] = [
    [T.book, 'P-BOOK'], [T.cinema, 'P-CINE'], [T.museum, 'P-MUSE'], [T.auto, 'P-AUTO'],
    [T.venue, 'P-VENU'], [T.equip, 'P-EQUI'], [T.old, 'P-OLDB'], [T.aid, 'P-AIDE'],
  ];
  for (const [id, partnerId] of terminals) await l.addTerminal({ id, partnerId, publicKey: KEY });
  await l.addTerminal({ id: T.bookOff, partnerId: 'P-BOOK', publicKey: KEY, active: false });
  const loadedAt = at('2022-09-01T08:00:00+02:00');
  for (const [number, holder] of [[CARD, 'A'], [OPPOSED, 'B'], [BARE, 'C'], [POOR, 'E']] as const) await l.issueCard({ number, holder, pinHash: null, at: loadedAt });
  const loads: readonly (readonly [string, Benefit, number])[] = [
    [CARD, 'LEISURE_BOOKS', 1500],
    [CARD, 'CINEMA', 5],
    [CARD, 'SHOWS', 3000],
    [CARD, 'MUSEUM', 0],
    [CARD, 'SCHOOL_BOOKS', 5000],
    [CARD, 'PRO_EQUIPMENT', 20000],
    [CARD, 'FIRST_AID', 6000],
    [CARD, 'DRIVING_LICENCE', 50000],
    [OPPOSED, 'LEISURE_BOOKS', 1500],
    [POOR, 'LEISURE_BOOKS', 300],
    [POOR, 'SHOWS', 300],
  ];
  for (const [cardNumber, benefit, amount] of loads) await l.load({ cardNumber, benefit, campaign: '2022-2023', amount, at: loadedAt });
  await l.oppose({ cardNumber: OPPOSED, reason: 'lost', at: loadedAt });
}

export function replyOf(o: CommitOutcome | undefined): DebitReply['body'] {
  if (!o || o.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(o)}`);
  return parseJson(DebitReply, o.reply, 'reply').body;
}

let lists = 0;
/** R12: the Region approves these cards for one partner's outing; the list's id. */
export async function approve(l: Ledger, partnerId: string, benefit: Benefit, cardNumbers: readonly string[], maxPerYouth = 100_000): Promise<string> {
  const id = `GL-TEST${String(++lists).padStart(7, '0')}`;
  await l.addGroupList({ id, partnerId, benefit, reference: 'sortie', cardNumbers, maxPerYouth, validUntil: NOW + 365 * DAY, createdAt: NOW, createdBy: 'operator:test' });
  return id;
}

/** Decide one debit at `when` and return the reply body. */
export async function sell(l: Ledger, o: { terminal: string; card: string; benefit: Benefit; amount: number; when?: number; pin?: PinCheck; createdAt?: number }) {
  const body = debitBody({ terminalId: o.terminal, cardNumber: o.card, benefit: o.benefit, amount: o.amount, createdAt: o.createdAt ?? o.when ?? NOW });
  return { body, reply: replyOf((await l.commitDebits([debitItem(body, o.pin ?? 'not-needed')], o.when ?? NOW))[0]) };
}


export function voidItem(body: VoidRequestBody): VoidItem {
  return { void: body, fingerprint: voidFingerprint(body) };
}

/** A void of `target` by `terminalId`, with a sequence number of its own. */
let voidSeq = 5_000_000;
export function voidBody(terminalId: string, target: string, o: Partial<VoidRequestBody> = {}): VoidRequestBody {
  return { txnId: uuidv7(), terminalId, seq: ++voidSeq, prev: GENESIS_HASH, createdAt: NOW, target, reason: 'timeout', ...o };
}

/**
 * The ledger each test of the calling suite runs on: opened and seeded before the test, closed after it. The
 * object returned stands for the running test's ledger (each call goes to it), so the tests of a suite
 * share one name for it, as they would a variable the suite reassigns.
 */
export function seededLedger(open: OpenLedger): Ledger {
  let current: Ledger | undefined;
  beforeEach(async () => {
    const l = await open();
    await seed(l);
    current = l;
    return async () => {
      current = undefined;
      await l.close();
    };
  });
  return new Proxy({} as Ledger, {
    get(_, key) {
      if (!current) throw new Error('the seeded ledger exists only while a test runs');
      const member: unknown = Reflect.get(current, key);
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(current) : member;
    },
  });
}
