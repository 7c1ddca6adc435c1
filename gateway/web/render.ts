import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { BENEFITS, type Benefit } from '../../protocol/benefits.ts';
import { maskCardNumber } from '../../protocol/card.ts';
import { formatEntries, formatEuros } from '../../protocol/money.ts';
import type { TransferKind, WebRole } from '../ledger/ledger.ts';

/**
 * Server-rendered pages: Eta templates in `views/` (every `<%= %>` is HTML-escaped; `<%~ %>` only for the
 * page body and for values this file builds), with the formatters every page uses: French euros and
 * dates in Paris time, benefit names, masked card numbers. Templates are compiled once and cached.
 */

const VIEWS = fileURLToPath(new URL('./views', import.meta.url));

export const eta = new Eta({ views: VIEWS, cache: true, autoEscape: true, autoTrim: false });

const DATE_TIME = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', dateStyle: 'short', timeStyle: 'short' });
const DATE = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', dateStyle: 'long' });

export const ROLE_FR: Readonly<Record<WebRole, string>> = {
  manager: 'Responsable',
  cashier: 'Caissier ou caissière',
  accountant: 'Comptable',
  operator: 'Agent de la Région',
  technician: 'Technicien',
};

const MOVEMENT_FR: Readonly<Record<TransferKind, string>> = {
  load: 'Chargement',
  debit: 'Vente',
  guarantee: 'Garantie hors ligne',
  cancellation: 'Annulation',
  reversal: 'Contre-passation',
  expiry: 'Fin de validité',
  restore: 'Rétablissement',
  fee: 'Frais de remplacement',
};

/** What every template gets as `it.f`. */
export const formatters = {
  euros: (cents: number) => formatEuros(cents),
  amount: (n: number, unit: 'cent' | 'entry') => (unit === 'cent' ? formatEuros(n) : formatEntries(n)),
  dateTime: (ms: number | null | undefined) => (ms === null || ms === undefined ? '—' : DATE_TIME.format(ms)),
  date: (ms: number) => DATE.format(ms),
  isoDateFr: (iso: string) => DATE.format(Date.parse(`${iso}T12:00:00Z`)),
  benefit: (b: string) => (Object.hasOwn(BENEFITS, b) ? BENEFITS[b as Benefit].fr : b),
  card: (n: string) => maskCardNumber(n),
  role: (r: WebRole) => ROLE_FR[r],
  movement: (k: TransferKind) => MOVEMENT_FR[k],
};

export interface PageUser {
  readonly name: string;
  readonly role: WebRole;
  readonly partnerId: string | null;
  readonly partnerName: string | null;
}

export interface PageData {
  readonly title: string;
  readonly user: PageUser | null;
  /** The anti-forgery token every form of the page carries. */
  readonly csrf: string;
  /** Which navigation entry is the current page. */
  readonly here?: string;
  readonly flash?: { readonly kind: 'ok' | 'error'; readonly text: string } | null;
  readonly [k: string]: unknown;
}

export function render(view: string, data: PageData): string {
  return eta.render(view, { ...data, f: formatters });
}

/** A fleet entry's state as the pages show it: online (heard recently), offline since, never heard. */
export function fleetState(heardAt: number | null, active: boolean, now: number, onlineWithinMs: number): { readonly state: 'online' | 'offline' | 'never' | 'off'; readonly text: string } {
  if (!active) return { state: 'off', text: 'Désactivé' };
  if (heardAt === null) return { state: 'never', text: 'Jamais connecté' };
  if (now - heardAt <= onlineWithinMs) return { state: 'online', text: 'En ligne' };
  return { state: 'offline', text: `Hors ligne depuis le ${DATE_TIME.format(heardAt)}` };
}
