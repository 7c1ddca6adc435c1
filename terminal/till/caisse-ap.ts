import { BENEFITS, type Benefit } from '../../protocol/benefits.ts';
import { CODES, isCode, type Code } from '../../protocol/codes.ts';
import type { Outcome } from '../sale.ts';
import { TillFormatError, type Records } from './records.ts';

/**
 * The debit subset of Caisse-AP, mapped onto a Pass'Région sale (docs/till.md is the till vendor's view).
 *
 * Request: `CZ` version 03xx; `CJ` the till's Concert identifier and `CA` its number (together they name
 * the till); `CB` the amount in cents (1 to 12 digits); `CD` 0 for a debit; `CE` 978 (euros); `BA` 1 for an
 * immediate acknowledgement (the result is then asked for later) or 0; `CC` absent (a card). Private tags:
 * `ZB` the benefit (otherwise the till link's configured benefit), `ZN` the number of entries for a benefit
 * counted in entries, `ZQ` 1 to ask for this till's last result instead of selling.
 *
 * Answer: the request's `CZ CJ CA CD CE` echoed; `AE` 10 done, 01 not done, 11 taken into account; on
 * `AE` 01 the reason in `AF`: 04 refused, 05 not allowed (busy, unsupported), 08 timeout, 09 format error,
 * 11 abandoned; `CB` **the amount actually taken** (R9: a partial debit takes the whole balance and the till
 * collects the rest, in `ZR`); private tags `ZS` (approved, offline = provisional until the gateway settles
 * it, declined, refused, cancelled), `ZT` the transaction id, `ZE` our stable code, `ZM` its French text
 * in ASCII, `ZN` the entries taken.
 */

export const AE = { DONE: '10', NOT_DONE: '01', TAKEN: '11' } as const;
export const AF = { REFUSED: '04', NOT_ALLOWED: '05', TIMEOUT: '08', FORMAT: '09', ABANDONED: '11' } as const;

export interface TillId {
  /** `CJ`: the till's Concert protocol identifier. */
  readonly cj: string;
  /** `CA`: the till number. */
  readonly ca: string;
}

export type TillRequest =
  | { readonly kind: 'debit'; readonly till: TillId; readonly benefit: Benefit; readonly amount: number; readonly requestedCents: number; readonly immediate: boolean }
  | { readonly kind: 'last-result'; readonly till: TillId };

/** A request the terminal answers at once with AE 01, AF and our code. */
export class TillRefusal extends Error {
  constructor(
    readonly af: string,
    readonly code: Code,
    message: string,
  ) {
    super(message);
    this.name = 'TillRefusal';
  }
}

const ECHOED = ['CZ', 'CJ', 'CA', 'CD', 'CE'] as const;

/** The echoed part of any answer, taken from what the request held (valid or not). */
export function echoOf(r: Records): [string, string][] {
  return ECHOED.filter((t) => r.has(t)).map((t) => [t, r.get(t)!]);
}

export function readRequest(r: Records, o: { readonly offered: readonly Benefit[]; readonly defaultBenefit: Benefit | undefined }): TillRequest {
  const version = r.get('CZ')!;
  if (!/^03[0-9]{2}$/.test(version)) throw new TillFormatError(`protocol version ${version}: 03xx expected`);
  const cj = r.get('CJ');
  const ca = r.get('CA');
  if (cj === undefined || !/^[0-9A-Za-z]{1,12}$/.test(cj)) throw new TillFormatError('CJ (the till identifier, 1 to 12 letters or digits) missing or wrong');
  if (ca === undefined || !/^[0-9]{1,2}$/.test(ca)) throw new TillFormatError('CA (the till number, 2 digits) missing or wrong');
  const till = { cj, ca };
  if (r.has('ZQ')) {
    if (r.get('ZQ') !== '1') throw new TillFormatError('ZQ is 1 (ask for the last result) when present');
    return { kind: 'last-result', till };
  }
  for (const tag of ['CB', 'CD', 'CE'] as const) if (!r.has(tag)) throw new TillFormatError(`${tag} missing`);
  const cb = r.get('CB')!;
  if (!/^[0-9]{1,12}$/.test(cb)) throw new TillFormatError('CB (the amount in cents) is 1 to 12 digits');
  const requestedCents = Number(cb);
  if (r.get('CE') !== '978') throw new TillRefusal(AF.NOT_ALLOWED, 'AMOUNT_INVALID', `currency ${r.get('CE')}: only euros (978)`);
  const cd = r.get('CD');
  if (cd === '1') throw new TillRefusal(AF.NOT_ALLOWED, 'AMOUNT_INVALID', 'refunds are not taken from the till: cancel the sale the same day from the terminal or the partner space');
  if (cd !== '0') throw new TillFormatError(`CD ${cd}: 0 (debit) expected`);
  if (r.has('CC')) throw new TillRefusal(AF.NOT_ALLOWED, 'AMOUNT_INVALID', `payment mode ${r.get('CC')} is not a Pass'Région card`);
  const ba = r.get('BA') ?? '0';
  if (ba !== '0' && ba !== '1') throw new TillFormatError('BA is 0 or 1');
  const zb = r.get('ZB');
  const benefit = (zb ?? o.defaultBenefit) as Benefit | undefined;
  if (benefit === undefined) throw new TillRefusal(AF.NOT_ALLOWED, 'BENEFIT_NOT_ALLOWED', `this terminal offers ${o.offered.join(', ')}: name one in ZB`);
  if (!(benefit in BENEFITS) || !o.offered.includes(benefit)) throw new TillRefusal(AF.NOT_ALLOWED, 'BENEFIT_NOT_ALLOWED', `benefit ${benefit} is not offered here (${o.offered.join(', ')})`);
  let amount = requestedCents;
  if (BENEFITS[benefit].unit === 'entry') {
    const zn = r.get('ZN');
    if (zn === undefined || !/^[0-9]{1,2}$/.test(zn) || Number(zn) < 1) throw new TillFormatError(`${benefit} is counted in entries: ZN gives how many (1 to 99)`);
    amount = Number(zn);
  } else if (requestedCents < 1) {
    throw new TillRefusal(AF.NOT_ALLOWED, 'AMOUNT_INVALID', 'the amount is zero');
  }
  return { kind: 'debit', till, benefit, amount, requestedCents, immediate: ba === '1' };
}

/** French text as the ASCII the protocol carries: accents dropped, the euro sign spelt. */
export function asciiText(text: string): string {
  return text
    .replace(/€/g, 'EUR')
    .replace(/[’‘]/g, "'")
    .replace(/…/g, '...')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 999);
}

function refusalRecords(af: string, code: Code, zs: string): [string, string][] {
  return [
    ['AE', AE.NOT_DONE],
    ['AF', af],
    ['ZS', zs],
    ['ZE', code],
    ['ZM', asciiText(CODES[code].fr)],
  ];
}

/** The answer's own records (after the echo) for a refusal raised before any sale. */
export function refusalAnswer(e: TillRefusal | TillFormatError): [string, string][] {
  return e instanceof TillRefusal ? refusalRecords(e.af, e.code, 'refused') : refusalRecords(AF.FORMAT, 'BAD_SCHEMA', 'refused');
}

const TIMEOUTS: readonly Code[] = ['PIN_ENTRY_TIMEOUT', 'NO_REPLY'];
const ABANDONS: readonly Code[] = ['SALE_CANCELLED', 'PIN_ENTRY_CANCELLED'];

/** The answer's own records for a finished sale. */
export function outcomeAnswer(o: Outcome, requestedCents: number): [string, string][] {
  switch (o.kind) {
    case 'approved': {
      const r = o.reply;
      const money = r.unit === 'cent';
      return [
        ['AE', AE.DONE],
        ['CB', String(money ? r.taken : requestedCents).padStart(2, '0')],
        ...(money && r.remainingToPay > 0 ? ([['ZR', String(r.remainingToPay)]] as [string, string][]) : []),
        ...(money ? [] : ([['ZN', String(r.taken)]] as [string, string][])),
        ['ZS', 'approved'],
        ['ZT', o.txnId],
      ];
    }
    case 'offline':
      // Accepted under the signed offline policy: the Region guarantees it to the partner, so the till is paid in full.
      return [
        ['AE', AE.DONE],
        ['CB', String(o.sale.unit === 'cent' ? o.sale.amount : requestedCents).padStart(2, '0')],
        ...(o.sale.unit === 'entry' ? ([['ZN', String(o.sale.amount)]] as [string, string][]) : []),
        ['ZS', 'offline'],
        ['ZT', o.txnId],
      ];
    case 'declined':
      return [...refusalRecords(AF.REFUSED, o.reply.code && isCode(o.reply.code) ? o.reply.code : 'REQUEST_REJECTED', 'declined'), ['ZT', o.txnId]];
    case 'rejected':
      return [...refusalRecords(AF.REFUSED, o.code, 'refused'), ['ZT', o.txnId]];
    case 'refused':
      return refusalRecords(TIMEOUTS.includes(o.code) ? AF.TIMEOUT : AF.REFUSED, o.code, 'refused');
    case 'cancelled':
      return refusalRecords(TIMEOUTS.includes(o.code) ? AF.TIMEOUT : ABANDONS.includes(o.code) ? AF.ABANDONED : AF.REFUSED, o.code, 'cancelled');
  }
}
