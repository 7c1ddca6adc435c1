import { BENEFITS, CINEMA_COUNTER_CENTS } from '../protocol/benefits.ts';
import { CODES, isCode, type Code } from '../protocol/codes.ts';
import { formatEntries, formatEuros } from '../protocol/money.ts';
import type { Outcome, Sale } from './sale.ts';
import type { SaleEntry } from './outbox-store.ts';

/**
 * What the terminal's display shows, in French. Pure: a screen is data; the display binding draws it.
 * R9: every approved sale shows both what was taken from the benefit and what remains to pay.
 */

export type Tone = 'info' | 'ok' | 'warn' | 'error';

export interface Screen {
  readonly tone: Tone;
  readonly lines: readonly string[];
  /** The status bar the runtime adds under every screen: link state and what waits to be sent. */
  readonly footer?: string;
}

export function formatAmount(amount: number, unit: 'cent' | 'entry'): string {
  return unit === 'cent' ? formatEuros(amount) : formatEntries(amount);
}

const label = (s: Pick<Sale, 'benefit'>) => BENEFITS[s.benefit].fr;

export const screens = {
  idle: (): Screen => ({ tone: 'info', lines: ["Pass'Région", 'Prêt'] }),
  cancelling: (e: SaleEntry): Screen => ({ tone: 'info', lines: ['Annulation en cours…', BENEFITS[e.benefit].fr, `Montant : ${formatAmount(e.amount, e.unit)}`] }),
  /** A cashier's cancellation of the last sale, as the gateway answered it (or not yet). */
  cancelled: (e: SaleEntry, result: string): Screen => {
    const what = [BENEFITS[e.benefit].fr, `Montant : ${formatAmount(e.amount, e.unit)}`];
    if (result === 'undone') return { tone: 'ok', lines: ['VENTE ANNULÉE', `Rendu à l'avantage : ${formatAmount(e.taken ?? e.amount, e.unit)}`, ...what] };
    if (result === 'prevented') return { tone: 'ok', lines: ['VENTE ANNULÉE', "Rien n'avait été débité", ...what] };
    if (result.startsWith('refused:') || result.startsWith('rejected:')) {
      const code = result.slice(result.indexOf(':') + 1);
      return { tone: 'error', lines: ['ANNULATION REFUSÉE', isCode(code) ? CODES[code].fr : 'Refusée par le serveur', ...what] };
    }
    return { tone: 'warn', lines: ['ANNULATION ENREGISTRÉE', 'Elle sera transmise au retour du réseau', ...what] };
  },
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
  lastSale,
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
    case 'offline': {
      const s = o.sale;
      const lines = ['ACCEPTÉ HORS LIGNE', 'Paiement provisoire, confirmé au retour du réseau', label(s), `Montant : ${formatAmount(s.amount, s.unit)}`];
      if (s.benefit === 'CINEMA') lines.push(`À payer au guichet : ${formatEuros(s.amount * CINEMA_COUNTER_CENTS)} (1 € par entrée)`);
      return { tone: 'ok', lines };
    }
    case 'refused':
      return { tone: 'error', lines: ['PAIEMENT REFUSÉ', CODES[o.code].fr, label(o.sale), `Reste à payer : ${formatAmount(o.sale.amount, o.sale.unit)}`] };
    case 'rejected':
      return { tone: 'error', lines: ['VENTE REFUSÉE PAR LE SERVEUR', CODES[o.code].fr] };
    case 'cancelled':
      return { tone: 'warn', lines: ['VENTE ANNULÉE', CODES[o.code].fr] };
  }
}

/**
 * Shown when the terminal starts: the last sale's state, so a result committed just before a power cut
 * is not lost to the cashier, and a sale cut before its result says it was voided.
 */
function lastSale(e: SaleEntry): Screen | undefined {
  const what = [BENEFITS[e.benefit].fr, `Montant : ${formatAmount(e.amount, e.unit)}`];
  if (e.voidedBy) return { tone: 'warn', lines: ['DERNIÈRE VENTE INTERROMPUE', "Vente annulée : rien n'est débité", ...what] };
  if (e.state === 'rejected') return { tone: 'error', lines: ['DERNIÈRE VENTE : REFUSÉE PAR LE SERVEUR', ...what] };
  if (e.mode === 'offline') {
    if (e.state === 'pending') return { tone: 'ok', lines: ['DERNIÈRE VENTE : ACCEPTÉ HORS LIGNE', 'Paiement provisoire, confirmé au retour du réseau', ...what] };
    return { tone: 'ok', lines: ['DERNIÈRE VENTE : ACCEPTÉ HORS LIGNE, RÉGLÉE', ...what] };
  }
  if (e.status === 'approved') return { tone: 'ok', lines: ['DERNIÈRE VENTE : PAIEMENT ACCEPTÉ', ...what] };
  if (e.status === 'declined') return { tone: 'error', lines: ['DERNIÈRE VENTE : PAIEMENT REFUSÉ', ...(e.code && isCode(e.code) ? [CODES[e.code].fr] : []), ...what] };
  return undefined;
}

/** "il y a 12 min", "il y a 2 h 05": the age of the oldest record waiting to be sent. */
export function formatAge(ms: number): string {
  const min = Math.max(0, Math.floor(ms / 60_000));
  if (min < 1) return "moins d'une minute";
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')}`;
}

/**
 * What the terminal knows of its gateway, as the status bar tells it. `silent`: the link is up but the
 * gateway left a request unanswered, so sales go offline until a reply arrives again; saying "En ligne"
 * then would contradict the "ACCEPTÉ HORS LIGNE" above it. `refused`: the broker refuses the terminal's
 * connection, which its code (LINK_REFUSED, LINK_NOT_AUTHORIZED) tells the technician how to fix.
 */
export type LinkStatus = { readonly state: 'online' | 'silent' | 'offline' } | { readonly state: 'refused'; readonly code: Code };

function linkText(l: LinkStatus): string {
  switch (l.state) {
    case 'online':
      return 'En ligne';
    case 'silent':
      return 'Serveur sans réponse';
    case 'offline':
      return 'HORS LIGNE';
    case 'refused':
      return `HORS LIGNE : connexion refusée (code ${CODES[l.code].num})`;
  }
}

/** The status bar: link state, and how many records wait to be sent and since when. */
export function statusLine(st: { readonly link: LinkStatus; readonly pending: number; readonly oldestPendingAt: number | null }, now: number): string {
  const link = linkText(st.link);
  if (st.pending === 0) return `${link} · aucune vente en attente`;
  const age = st.oldestPendingAt === null ? '' : ` (la plus ancienne depuis ${formatAge(now - st.oldestPendingAt)})`;
  return `${link} · ${st.pending} en attente d'envoi${age}`;
}

/**
 * The receipt: what the youth keeps. It says which of the three outcomes it was, so a provisional
 * offline acceptance is never mistaken for an online approval.
 */
export function receipt(o: Outcome, meta: { readonly terminalId: string; readonly at: string }): string[] | null {
  const head = ["Pass'Région — ticket", `Terminal ${meta.terminalId}`, meta.at];
  switch (o.kind) {
    case 'approved':
      return [...head, `Transaction ${o.txnId}`, 'PAIEMENT ACCEPTÉ EN LIGNE', ...outcome(o).lines.slice(1)];
    case 'offline':
      return [...head, `Transaction ${o.txnId}`, 'ACCEPTÉ HORS LIGNE — PROVISOIRE', ...outcome(o).lines.slice(2), 'Le débit définitif est fixé par la Région à la transmission.'];
    case 'declined':
    case 'refused':
      return [...head, ...(o.kind === 'declined' ? [`Transaction ${o.txnId}`] : []), ...outcome(o).lines];
    default:
      return null;
  }
}

/** A screen's message as text, one line each, for logs and tests (the status bar is not part of it). */
export function screenText(s: Screen): string {
  return s.lines.join('\n');
}
