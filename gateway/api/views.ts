import { Type, type Static } from '@sinclair/typebox';
import { regionDate } from '../../common/paris-time.ts';
import { BENEFITS, type Unit as UnitCode } from '../../protocol/benefits.ts';
import { maskCardNumber } from '../../protocol/card.ts';
import { formatEntries, formatEuros } from '../../protocol/money.ts';
import type { CampaignDef } from '../campaigns.ts';
import type { CardRecord, HistoryEntry, PartnerRecord, TerminalRecord, TransferKind, WalletView } from '../ledger/ledger.ts';
import type { Statement, StatementLine } from '../reimbursement/types.ts';
import type { PinGate } from '../rules.ts';
import { Amount, Benefit, CampaignId, IsoDate, literals, MaskedCard, Obj, PartnerType, Timestamp, Unit } from './schemas.ts';

/**
 * What the API shows of the ledger's records: response schemas and the functions that build them. Card
 * numbers are always masked and the PIN hash never leaves the ledger; the schemas are closed, so a field
 * added to a record later is not shown until it is added here on purpose.
 */

/** Any 16-digit run (a card number) in a text, masked: dossier ids and URLs may hold one. */
export function maskCardNumbersIn(text: string): string {
  return text.replace(/(?<![0-9])[0-9]{16}(?![0-9])/g, (digits) => maskCardNumber(digits));
}

/**
 * A URL as logs and error messages may show it: card numbers masked, API tokens (`psr_…`) and the values
 * of secret-looking query parameters (`token`, `access_token`, `password`, `secret`) redacted. The API
 * reads tokens from the Authorization header only, but a client that puts one in a URL must not also
 * leak it to the log.
 */
export function safeUrl(url: string): string {
  return maskCardNumbersIn(url)
    .replace(/psr_[A-Za-z0-9_-]{4,}/g, 'psr_[redacted]')
    .replace(/([?&][^=&#]*(?:token|password|secret)[^=&#]*=)[^&#]*/gi, '$1[redacted]');
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/** `12,50 €`, `3 entrées`, or `accès libre` for an access benefit (museums), which has no balance. */
export function amountText(amount: number, unit: UnitCode, access = false): string {
  if (access) return 'accès libre';
  return unit === 'cent' ? formatEuros(amount) : formatEntries(amount);
}

// ---------------------------------------------------------------------------------------------------------
// Campaigns

export const CampaignView = Obj({
  id: CampaignId,
  windows: Type.Array(
    Obj({
      benefit: Benefit,
      from: Type.Optional(IsoDate),
      to: Type.Optional(IsoDate),
      months: Type.Optional(Type.Integer({ description: 'Usable this many months from its loading (driving licence)' })),
    }),
  ),
});

export function campaignView(c: CampaignDef): Static<typeof CampaignView> {
  return { id: c.id, windows: c.windows.map((w) => ('months' in w ? { benefit: w.benefit, months: w.months } : { benefit: w.benefit, from: w.from, to: w.to })) };
}

// ---------------------------------------------------------------------------------------------------------
// Cards

export const WalletOut = Obj({
  benefit: Benefit,
  label: Type.String({ description: 'French name of the benefit' }),
  campaign: CampaignId,
  unit: Unit,
  access: Type.Boolean({ description: 'An access (museums): free, unlimited entry, no balance' }),
  loaded: Type.Integer(),
  loadedText: Type.String(),
  balance: Type.Integer(),
  balanceText: Type.String({ description: 'French rendering, e.g. 12,50 € or 3 entrées' }),
  validFrom: IsoDate,
  validTo: Type.String({ description: 'Last local day the wallet is usable (inclusive)' }),
  usable: Type.Boolean(),
  suspended: Type.Boolean(),
});

export const CardView = Obj({
  number: MaskedCard,
  dossierId: Type.String(),
  holder: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('opposed')]),
  pin: Obj({
    set: Type.Boolean({ description: 'The youth has set a secret code (R3)' }),
    locked: Type.Boolean({ description: 'Locked after wrong codes from several partners (R3); lift with pin-unlock' }),
    blockedToday: Type.Boolean({ description: 'Too many wrong codes today: no QR sale until tomorrow, or until pin-unlock' }),
    wrongSinceRight: Type.Integer({ description: 'Wrong codes since the last right one' }),
  }),
  wallets: Type.Array(WalletOut),
});

function walletOut(w: WalletView): Static<typeof WalletOut> {
  return {
    benefit: w.benefit,
    label: BENEFITS[w.benefit].fr,
    campaign: w.campaign,
    unit: w.unit,
    access: w.access,
    loaded: w.loaded,
    loadedText: amountText(w.loaded, w.unit, w.access),
    balance: w.balance,
    balanceText: amountText(w.balance, w.unit, w.access),
    validFrom: regionDate(w.validFrom),
    // validUntil is exclusive (the instant the window closes): its last day is the day before.
    validTo: regionDate(w.validUntil - 1),
    usable: w.usable,
    suspended: w.suspended,
  };
}

export function cardView(card: CardRecord, wallets: readonly WalletView[], pin: PinGate): Static<typeof CardView> {
  return {
    number: maskCardNumber(card.number),
    // The ledger's default dossier id is `D-<card number>`: shown masked like the number itself.
    dossierId: maskCardNumbersIn(card.dossierId),
    holder: card.holder,
    status: card.status,
    pin: { set: card.pinHash !== null, locked: pin === 'locked', blockedToday: pin === 'tries-exceeded', wrongSinceRight: card.pinFailures },
    wallets: wallets.map(walletOut),
  };
}

/** A card found by the search: masked, with the reference that opens it (never its number). */
export const CardFound = Obj({
  ref: Type.String({ description: 'Use in place of the card number in the card routes' }),
  number: MaskedCard,
  dossierId: Type.String(),
  holder: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('opposed')]),
});

export function cardFound(card: CardRecord, ref: string): Static<typeof CardFound> {
  return { ref, number: maskCardNumber(card.number), dossierId: maskCardNumbersIn(card.dossierId), holder: card.holder, status: card.status };
}

export const HistoryOut = Obj({
  at: Type.String({ format: 'date-time', description: "When it happened: a sale's own time (an offline sale's, however late it arrived), else when it was recorded" }),
  recordedAt: Timestamp,
  kind: literals<TransferKind>(['load', 'debit', 'cancellation', 'reversal', 'expiry', 'restore', 'fee']),
  benefit: Benefit,
  campaign: CampaignId,
  unit: Unit,
  ...Amount,
  txnId: Type.Union([Type.String(), Type.Null()]),
  partnerId: Type.Union([Type.String(), Type.Null()]),
});

export function historyOut(h: HistoryEntry): Static<typeof HistoryOut> {
  return {
    at: iso(h.at),
    recordedAt: iso(h.recordedAt),
    kind: h.kind,
    benefit: h.benefit,
    campaign: h.campaign,
    unit: h.unit,
    amount: h.amount,
    amountText: amountText(h.amount, h.unit),
    txnId: h.txnId,
    partnerId: h.partnerId,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Partners and terminals

/** What everyone allowed to read a partner sees: no money, no bank details. */
const partnerBasics = {
  id: Type.String(),
  name: Type.String(),
  type: PartnerType,
  conventionFrom: IsoDate,
  conventionTo: IsoDate,
};

export const PartnerView = Obj({
  ...partnerBasics,
  entryPriceCents: Type.Optional(Type.Integer({ description: 'Operator only: what the Region pays per entry (cinema, museum)' })),
  iban: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Operator only' })),
  bic: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Operator only' })),
});

/** `full`: with the convention's price and bank details (operator); without them for a technician. */
export function partnerView(p: PartnerRecord, full: boolean): Static<typeof PartnerView> {
  const basics = { id: p.id, name: p.name, type: p.type, conventionFrom: p.conventionFrom, conventionTo: p.conventionTo };
  if (!full) return basics;
  return { ...basics, entryPriceCents: p.entryPriceCents ?? 0, iban: p.iban ?? null, bic: p.bic ?? null };
}

export const TerminalView = Obj({
  id: Type.String(),
  partnerId: Type.String(),
  publicKey: Type.String({ description: 'Ed25519 public key, 32 bytes in base64url' }),
  active: Type.Boolean(),
});

export function terminalView(t: TerminalRecord): Static<typeof TerminalView> {
  return { id: t.id, partnerId: t.partnerId, publicKey: Buffer.from(t.publicKey).toString('base64url'), active: t.active };
}

// ---------------------------------------------------------------------------------------------------------
// Statements

const StatementStatus = Type.Union([Type.Literal('ready'), Type.Literal('held'), Type.Literal('paid')], {
  description: 'held: an equipment shop without its yearly proof; ready: to pay; paid: in a SEPA file',
});

const statementFields = {
  id: Type.String(),
  partnerId: Type.String(),
  partnerName: Type.String(),
  periodFrom: IsoDate,
  periodTo: IsoDate,
  createdAt: Timestamp,
  status: StatementStatus,
  proofMissing: Type.Array(Type.String(), { description: 'held: the campaigns (e.g. 2022-2023) whose yearly proof the equipment shop has not sent; empty otherwise' }),
  totalCents: Type.Integer(),
  totalText: Type.String(),
};

export const StatementSummary = Obj({ ...statementFields, lineCount: Type.Integer() });

export const StatementLineOut = Obj({
  id: Type.Integer(),
  txnId: Type.String(),
  kind: Type.Union([Type.Literal('sale'), Type.Literal('cancellation'), Type.Literal('reversal')]),
  corrects: Type.Union([Type.String(), Type.Null()]),
  saleAt: Timestamp,
  recordedAt: Timestamp,
  terminalId: Type.Union([Type.String(), Type.Null()]),
  card: MaskedCard,
  benefit: Benefit,
  unit: Unit,
  quantity: Type.Integer(),
  amountCents: Type.Integer(),
  amountText: Type.String(),
  adjustment: Type.Boolean({ description: 'A sale made before the period that arrived late (offline)' }),
});

export const StatementView = Obj({ ...statementFields, lines: Type.Array(StatementLineOut) });

function statementHead(s: Statement) {
  return {
    id: s.id,
    partnerId: s.partnerId,
    partnerName: s.partnerName,
    periodFrom: s.periodFrom,
    periodTo: s.periodTo,
    createdAt: iso(s.createdAt),
    status: s.status,
    proofMissing: [...s.proofMissing],
    totalCents: s.totalCents,
    totalText: formatEuros(s.totalCents),
  };
}

function lineOut(l: StatementLine): Static<typeof StatementLineOut> {
  return {
    id: l.id,
    txnId: l.txnId,
    kind: l.kind,
    corrects: l.corrects,
    saleAt: iso(l.saleAt),
    recordedAt: iso(l.recordedAt),
    terminalId: l.terminalId,
    card: l.cardMasked,
    benefit: l.benefit,
    unit: l.unit,
    quantity: l.quantity,
    amountCents: l.amountCents,
    amountText: formatEuros(l.amountCents),
    adjustment: l.adjustment,
  };
}

export function statementSummary(s: Statement): Static<typeof StatementSummary> {
  return { ...statementHead(s), lineCount: s.lines.length };
}

export function statementView(s: Statement): Static<typeof StatementView> {
  return { ...statementHead(s), lines: s.lines.map(lineOut) };
}
