import { BENEFITS, type Benefit } from '../../protocol/benefits.ts';
import { CODES, isCode } from '../../protocol/codes.ts';
import type { SaleEntry, VoidEntry } from '../outbox-store.ts';
import { formatAmount } from '../screens.ts';

/**
 * What the cashier's page shows of a sale, in French (pure). An offline sale reads "provisoire" until the
 * gateway settles it, then its final result; an online sale cut before its result, "interrompue".
 */

export interface SaleLine {
  readonly txnId: string;
  readonly at: number;
  readonly benefit: string;
  readonly amount: string;
  readonly result: string;
  readonly tone: 'ok' | 'warn' | 'error' | 'info';
  readonly provisional: boolean;
}

const fr = (code: string | null) => (code && isCode(code) ? CODES[code].fr : 'refusé');

export function saleLine(e: SaleEntry, cancellation?: VoidEntry): SaleLine {
  const base = { txnId: e.txnId, at: e.createdAt, benefit: BENEFITS[e.benefit].fr, amount: formatAmount(e.amount, e.unit) };
  // The cashier cancelled it (a void with the sale's result already shown): what the gateway made of that.
  if (cancellation && !e.voidedBy) {
    if (cancellation.state === 'pending') return { ...base, result: "Annulation en attente d'envoi", tone: 'warn', provisional: true };
    const code = cancellation.state === 'rejected' ? `refused:${cancellation.code ?? ''}` : (cancellation.code ?? '');
    if (code === 'undone' || code === 'prevented') return { ...base, result: 'Annulée', tone: 'warn', provisional: false };
    if (code.startsWith('refused:')) {
      const shown = saleLine(e);
      return { ...shown, result: `${shown.result} — annulation refusée : ${fr(code.slice('refused:'.length))}` };
    }
  }
  // An offline sale settled by the gateway says so: its final result replaces "provisoire".
  const final = (text: string) => (e.mode === 'offline' ? `Réglée — ${text}` : text.charAt(0).toUpperCase() + text.slice(1));
  if (e.state === 'pending') {
    if (e.mode === 'offline') return { ...base, result: 'Acceptée hors ligne — provisoire', tone: 'warn', provisional: true };
    if (e.voidedBy) return { ...base, result: 'Interrompue — annulée', tone: 'warn', provisional: false };
    return { ...base, result: 'En attente de réponse', tone: 'info', provisional: true };
  }
  if (e.state === 'rejected') return { ...base, result: `Rejetée : ${fr(e.code)}`, tone: 'error', provisional: false };
  if (e.voidedBy) return { ...base, result: 'Annulée', tone: 'warn', provisional: false };
  if (e.status === 'approved') {
    const taken = e.taken ?? e.amount;
    if (taken < e.amount) return { ...base, result: final(`partielle : ${formatAmount(taken, e.unit)} pris, ${formatAmount(e.amount - taken, e.unit)} à payer`), tone: 'ok', provisional: false };
    return { ...base, result: final('acceptée'), tone: 'ok', provisional: false };
  }
  return { ...base, result: final(`refusée : ${fr(e.code)}`), tone: 'error', provisional: false };
}

/** The benefits the cashier may choose, with what the amount is counted in. */
export function benefitChoices(benefits: readonly Benefit[]): { code: Benefit; label: string; unit: 'cent' | 'entry' }[] {
  return benefits.map((code) => ({ code, label: BENEFITS[code].fr, unit: BENEFITS[code].unit }));
}
