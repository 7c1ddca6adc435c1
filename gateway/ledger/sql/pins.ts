import { regionDate } from '../../../common/paris-time.ts';
import { pinGate, type Decision, type PinGate } from '../../rules.ts';
import type { DebitItem } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { CardRow } from './rows.ts';

/*
 * The secret code's wrong tries, counted inside the debit transaction. R3 (rules.ts `PIN_TRIES`): a wrong
 * code counts for its partner and its Paris day, a right one clears every count. Only tries the rules
 * actually judged count: a try on a blocked code, an unknown card or a wrong partner changes nothing.
 */

/**
 * Count a wrong code, or clear the counts on a right one; the decision to store. A wrong code that used
 * the last try says so at once (R3): the youth learns of the block on that try, not on the next one.
 */
export async function countPinTry(st: SqlStore, card: CardRow, partnerId: string, at: number, pin: DebitItem['pin'], d: Decision): Promise<Decision> {
  if (pin === 'incorrect' && d.status === 'declined' && d.code === 'PIN_INCORRECT') {
    await st.s.addPinTry.run(card.dossier_id, partnerId, regionDate(at));
    await st.s.setPinFailures.run(card.pin_failures + 1, card.dossier_id);
    st.forgetDossier(card.dossier_id);
    const after = await pinGateOf(st, { ...card, pin_failures: card.pin_failures + 1 }, partnerId, at, pin);
    if (after === 'locked') return { ...d, code: 'PIN_INCORRECT_LOCKED' };
    if (after === 'tries-exceeded') return { ...d, code: 'PIN_INCORRECT_BLOCKED' };
  } else if (pin === 'ok' && card.pin_failures > 0 && !(d.status === 'declined' && (d.code === 'PIN_LOCKED' || d.code === 'PIN_TRIES_EXCEEDED'))) {
    await st.s.clearPinTries.run(card.dossier_id);
    await st.s.setPinFailures.run(0, card.dossier_id);
    st.forgetDossier(card.dossier_id);
  }
  return d;
}

/** Where the youth's code stands for this partner now, counted inside the batch (QR sales only). */
export async function pinGateOf(st: SqlStore, card: CardRow, partnerId: string | null, at: number, pin: DebitItem['pin']): Promise<PinGate> {
  if (pin === 'not-needed' || card.pin_failures === 0) return 'open';
  const day = regionDate(at);
  const t = (await st.s.pinTries.get(day, day, partnerId ?? '', card.dossier_id))!;
  return pinGate({ total: t.total ?? 0, partners: t.partners, today: t.today ?? 0, todayHere: t.here ?? 0 });
}
