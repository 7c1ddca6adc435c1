import { BENEFITS, CINEMA_COUNTER_CENTS } from '../protocol/benefits.ts';
import { CODES, type Code } from '../protocol/codes.ts';
import { formatEntries, formatEuros } from '../protocol/money.ts';
import type { Outcome, Sale } from './lifecycle.ts';

/**
 * What the terminal's display shows, in French. Pure: a screen is data; the display binding draws it.
 * R9: every approved sale shows both what was taken from the benefit and what remains to pay.
 */

export type Tone = 'info' | 'ok' | 'warn' | 'error';

export interface Screen {
  readonly tone: Tone;
  readonly lines: readonly string[];
}

export function formatAmount(amount: number, unit: 'cent' | 'entry'): string {
  return unit === 'cent' ? formatEuros(amount) : formatEntries(amount);
}

const label = (s: Pick<Sale, 'benefit'>) => BENEFITS[s.benefit].fr;

export const screens = {
  idle: (): Screen => ({ tone: 'info', lines: ["Pass'Région", 'Prêt'] }),
  present: (s: Sale): Screen => ({
    tone: 'info',
    lines: [label(s), `Montant : ${formatAmount(s.amount, s.unit)}`, 'Présentez la carte ou le QR code'],
  }),
  readAgain: (s: Sale, code: Code): Screen => ({
    tone: 'warn',
    lines: [CODES[code].fr, label(s), `Montant : ${formatAmount(s.amount, s.unit)}`, 'Présentez à nouveau la carte ou le QR code'],
  }),
  typeCode: (): Screen => ({ tone: 'info', lines: ['Tapez votre code secret', 'sur le clavier'] }),
  sending: (): Screen => ({ tone: 'info', lines: ['Transmission en cours…'] }),
  outcome,
};

function outcome(o: Outcome): Screen {
  switch (o.kind) {
    case 'approved': {
      const r = o.reply;
      if (r.benefit === 'MUSEUM') return { tone: 'ok', lines: ['ENTRÉE ACCEPTÉE', label(r), `Entrées : ${r.taken}`, 'Accès gratuit'] };
      const partial = r.remainingToPay > 0;
      const lines = [
        partial ? 'PAIEMENT PARTIEL ACCEPTÉ' : 'PAIEMENT ACCEPTÉ',
        label(r),
        `Pris sur l'avantage : ${formatAmount(r.taken, r.unit)}`,
        `Reste à payer : ${formatAmount(r.remainingToPay, r.unit)}`,
      ];
      if (r.benefit === 'CINEMA') lines.push(`À payer au guichet : ${formatEuros(r.taken * CINEMA_COUNTER_CENTS)} (1 € par entrée)`);
      if (r.balanceAfter !== undefined) lines.push(`Solde restant : ${formatAmount(r.balanceAfter, r.unit)}`);
      return { tone: 'ok', lines };
    }
    case 'declined': {
      const r = o.reply;
      const why = r.code ? CODES[r.code].fr : 'Refusé';
      return { tone: 'error', lines: ['PAIEMENT REFUSÉ', why, label(r), `Reste à payer : ${formatAmount(r.remainingToPay, r.unit)}`] };
    }
    case 'rejected':
      return { tone: 'error', lines: ['VENTE REFUSÉE PAR LE SERVEUR', CODES[o.code].fr] };
    case 'pending':
      return { tone: 'warn', lines: ['PAS DE RÉPONSE DU SERVEUR', "Vente en attente d'envoi", 'Résultat communiqué au retour du réseau'] };
    case 'cancelled':
      return { tone: 'warn', lines: ['VENTE ANNULÉE', CODES[o.code].fr] };
  }
}

/** A screen as text, one line each, for logs, the demo and tests. */
export function screenText(s: Screen): string {
  return s.lines.join('\n');
}
