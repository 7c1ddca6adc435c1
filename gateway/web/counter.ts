import { BENEFITS, benefitUnit, isBenefit, partnerMayDebit, type Benefit, type Unit } from '../../protocol/benefits.ts';
import { isValidCardNumber } from '../../protocol/card.ts';
import type { DeclineCode } from '../../protocol/codes.ts';
import { debitRequest, encodeJson } from '../../protocol/debit.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import { DebitReply, MAX_SALE_ENTRIES, parseJson, type DebitRequestBody } from '../../protocol/messages.ts';
import { parseEuros } from '../../protocol/money.ts';
import { PIN_PATTERN, sealPin } from '../../protocol/pin.ts';
import type { CommitOutcome, Ledger } from '../ledger/ledger.ts';
import { webChannelId } from '../ledger/registry.ts';

/**
 * The partner web counter (R2a: card number, amount, the youth's secret code). A sale typed there is a
 * record of the partner's web channel (`WEB-<partner id>`, a terminal id the gateway owns) and takes the
 * terminal's path from the code check on: the code is sealed to the gateway's box key and bound to the
 * sale's id as a PIN pad would, then the pipeline opens it, compares it with the card's slow hash, counts a
 * wrong one against the same partner-and-day tries as a terminal's (R3), and the sale is decided by the same
 * rules in the same batch and ledger transaction.
 *
 * One id per attempt: the form carries the id the page was given, so a form sent twice (a double click, a
 * reload) is the same sale, decided once; the second answer is the first's. A partner's web sales are
 * serialised (one after the other in this gateway), each continuing the channel's record chain; another
 * gateway taking the same number is refused by the ledger (`seq-conflict`) and the sale is tried again with
 * the next one.
 */

export interface CounterSale {
  readonly partnerId: string;
  /** The attempt's id, given with the form (a UUID). */
  readonly txnId: string;
  readonly cardNumber: string;
  readonly benefit: string;
  /** As typed: euros (`12,50`) or, for an entry benefit, a count of entries. */
  readonly amount: string;
  readonly code: string;
}

export interface CounterResult {
  readonly txnId: string;
  readonly status: 'approved' | 'declined';
  readonly code?: DeclineCode;
  readonly benefit: Benefit;
  readonly unit: Unit;
  readonly requested: number;
  readonly taken: number;
  readonly remainingToPay: number;
  readonly balanceAfter?: number;
  readonly decidedAt: number;
  /** True when this attempt had already been decided (the form was sent again). */
  readonly repeat: boolean;
  /** The card an approved sale debited, as the ledger recorded it. */
  readonly cardNumber?: string;
}

export interface CounterDeps {
  readonly ledger: Ledger;
  readonly submit: (body: DebitRequestBody, message: Buffer) => Promise<CommitOutcome>;
  readonly boxPublicKey: Uint8Array;
  /** The web channel is registered with the gateway's own signing key: it never connects to the broker. */
  readonly channelKey: Uint8Array;
  readonly now: () => number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SEQ_RETRIES = 3;

/** What the cashier typed, checked: the benefit's unit and amount, the card's check digit, a 4-digit code. */
export function checkCounterSale(s: CounterSale, partnerType: Parameters<typeof partnerMayDebit>[0]): { benefit: Benefit; unit: Unit; amount: number; cardNumber: string } {
  if (!UUID.test(s.txnId)) throw new PasserelleError('DATA_INVALID', 'the form has lost its sale id: reload the page');
  const cardNumber = s.cardNumber.replace(/[\s-]/g, '');
  if (!isValidCardNumber(cardNumber)) throw new PasserelleError('CARD_NUMBER_INVALID', 'the card number is 16 digits with a valid check digit');
  if (!isBenefit(s.benefit) || !partnerMayDebit(partnerType, s.benefit)) throw new PasserelleError('BENEFIT_NOT_ALLOWED', `this partner may not debit ${s.benefit}`);
  const benefit = s.benefit;
  const unit = benefitUnit(benefit);
  let amount: number;
  if (unit === 'cent') amount = parseEuros(s.amount);
  else {
    const t = s.amount.trim();
    if (!/^[0-9]{1,2}$/.test(t) || Number(t) < 1 || Number(t) > MAX_SALE_ENTRIES) throw new PasserelleError('AMOUNT_INVALID', `a number of entries from 1 to ${MAX_SALE_ENTRIES}`);
    amount = Number(t);
  }
  if (!PIN_PATTERN.test(s.code)) throw new PasserelleError('SECRET_CODE_FORMAT', 'the secret code is 4 digits');
  return { benefit, unit, amount, cardNumber };
}

export class WebCounter {
  readonly #d: CounterDeps;
  /** Per partner, the sale being decided: the next waits for it (one record chain per channel). */
  readonly #tail = new Map<string, Promise<unknown>>();

  constructor(d: CounterDeps) {
    this.#d = d;
  }

  async sell(s: CounterSale): Promise<CounterResult> {
    const partner = await this.#d.ledger.partner(s.partnerId);
    if (!partner) return Promise.reject(new PasserelleError('NOT_FOUND', `no partner ${s.partnerId}`));
    let checked: ReturnType<typeof checkCounterSale>;
    try {
      checked = checkCounterSale(s, partner.type);
    } catch (e) {
      return Promise.reject(e);
    }
    const before = this.#tail.get(s.partnerId) ?? Promise.resolve();
    const run = before.then(
      () => this.#sell(s.partnerId, s.txnId, checked, s.code),
      () => this.#sell(s.partnerId, s.txnId, checked, s.code),
    );
    const tail = run.catch(() => undefined);
    this.#tail.set(s.partnerId, tail);
    void tail.then(() => {
      if (this.#tail.get(s.partnerId) === tail) this.#tail.delete(s.partnerId);
    });
    return run;
  }

  async #sell(partnerId: string, txnId: string, c: ReturnType<typeof checkCounterSale>, code: string): Promise<CounterResult> {
    const { ledger } = this.#d;
    const channel = webChannelId(partnerId);
    const known = await this.#decided(channel, txnId, c);
    if (known) return known;
    if (!await ledger.terminal(channel)) {
      try {
        await ledger.addTerminal({ id: channel, partnerId, publicKey: this.#d.channelKey, active: true });
      } catch (e) {
        // Another gateway registered it meanwhile.
        if (!await ledger.terminal(channel)) throw e;
      }
    }
    for (let attempt = 0; attempt < SEQ_RETRIES; attempt++) {
      const head = await ledger.chainHead(channel);
      const body: DebitRequestBody = {
        txnId,
        terminalId: channel,
        seq: head.nextSeq,
        prev: head.headHash,
        createdAt: this.#d.now(),
        mode: 'online',
        hotlist: 0,
        policy: 0,
        credential: { kind: 'qr', cardNumber: c.cardNumber, pinBlock: sealPin(code, txnId, this.#d.boxPublicKey) },
        benefit: c.benefit,
        amount: c.amount,
        unit: c.unit,
      };
      const outcome = await this.#d.submit(body, encodeJson(debitRequest(body)));
      if (outcome.kind === 'reply') return { ...resultOf(outcome.reply, false), cardNumber: c.cardNumber };
      // The same id sent at once through another gateway: its decision stands.
      const again = await this.#decided(channel, txnId, c);
      if (again) return again;
      if (outcome.kind === 'conflict') throw new PasserelleError('TXN_CONFLICT', 'this sale id was already used');
    }
    throw new PasserelleError('GATEWAY_BUSY', 'the web counter could not record the sale: try again');
  }

  /**
   * The decision already taken for this attempt, if any. It is shown only for the same sale: an id of
   * another channel, or this form sent again with another card, benefit or amount, is refused
   * (TXN_CONFLICT), never shown as if it were the sale typed now.
   */
  async #decided(channel: string, txnId: string, c: ReturnType<typeof checkCounterSale>): Promise<CounterResult | undefined> {
    const stored = await this.#d.ledger.request(txnId);
    if (!stored) return undefined;
    const conflict = () => new PasserelleError('TXN_CONFLICT', 'this sale id was already used for another sale');
    if (stored.terminalId !== channel || stored.status === 'void') throw conflict();
    const r = resultOf(stored.reply, true);
    if (r.benefit !== c.benefit || r.requested !== c.amount) throw conflict();
    if (r.status === 'approved') {
      const card = (await this.#d.ledger.saleOf(txnId))?.cardNumber;
      if (card !== c.cardNumber) throw conflict();
      return { ...r, cardNumber: card };
    }
    return r;
  }
}

function resultOf(reply: Buffer, repeat: boolean): CounterResult {
  const b = parseJson(DebitReply, reply, 'reply').body;
  return {
    txnId: b.txnId,
    status: b.status,
    ...(b.code ? { code: b.code } : {}),
    benefit: b.benefit,
    unit: b.unit,
    requested: b.requested,
    taken: b.taken,
    remainingToPay: b.remainingToPay,
    ...(b.balanceAfter !== undefined ? { balanceAfter: b.balanceAfter } : {}),
    decidedAt: b.decidedAt,
    repeat,
  };
}

/** The benefits a partner may debit, with their French names and units, for the counter's form. */
export function counterBenefits(partnerType: Parameters<typeof partnerMayDebit>[0]): { code: Benefit; fr: string; unit: Unit }[] {
  return (Object.keys(BENEFITS) as Benefit[]).filter((b) => partnerMayDebit(partnerType, b)).map((b) => ({ code: b, fr: BENEFITS[b].fr, unit: benefitUnit(b) }));
}
