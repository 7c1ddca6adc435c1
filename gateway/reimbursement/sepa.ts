import { isIsoDate, regionDate } from '../../common/paris-time.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import { ibanProblem, isValidBic } from './iban.ts';
import type { BankAccount, CreditTransferFile, Payment } from './types.ts';

/**
 * SEPA credit transfer initiation (ISO 20022 `pain.001.001.03`, EPC implementation guidelines): the
 * file the Region hands to its bank to pay partners, one credit transfer per statement.
 *
 * Everything is checked before a single element is written, and a bad input throws DATA_INVALID naming
 * the field (`payments[2].creditor.iban`), because a bank rejects a whole file for one bad transfer and
 * says so days later, in a message nobody at the Region can map back to a partner.
 */

const NAMESPACE = 'urn:iso:std:iso:20022:tech:xsd:pain.001.001.03';

/** EPC rule: one SEPA credit transfer is at most 999 999 999,99 €. */
const MAX_PAYMENT_CENTS = 99_999_999_999;

const MAX_ID_LENGTH = 35;
const MAX_NAME_LENGTH = 70;
const MAX_REMITTANCE_LENGTH = 140;

/** The basic Latin character set of the EPC implementation guidelines: all a bank is sure to carry through. */
const SEPA_CHARS = "A-Za-z0-9/\\-?:().,'+ ";
const SEPA_TEXT = new RegExp(`^[${SEPA_CHARS}]*$`);
const NOT_SEPA_CHAR = new RegExp(`[^${SEPA_CHARS}]`, 'g');

/**
 * The BIC pattern of the pain.001.001.03 schema itself, stricter than ISO 9362's general form: the
 * location code may not start with 0 or 1 (test and passive BICs) nor end with the letter O.
 */
const SCHEMA_BIC = /^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$/;

/**
 * Characters that a Unicode decomposition does not turn into plain letters but that have an obvious
 * SEPA spelling: ligatures, letters with a stroke, typographic apostrophes and dashes. `&` becomes `+`
 * rather than a blank so that "Dupont & Fils" keeps its meaning.
 */
const TRANSLITERATIONS: ReadonlyMap<string, string> = new Map([
  ['œ', 'oe'], ['Œ', 'OE'], ['æ', 'ae'], ['Æ', 'AE'], ['ß', 'ss'], ['ø', 'o'], ['Ø', 'O'],
  ['ł', 'l'], ['Ł', 'L'], ['đ', 'd'], ['Đ', 'D'], ['ð', 'd'], ['Ð', 'D'], ['þ', 'th'], ['Þ', 'TH'],
  ['ı', 'i'], ['’', "'"], ['‘', "'"], ['ʼ', "'"], ['`', "'"], ['´', "'"], ['‐', '-'], ['‑', '-'],
  ['–', '-'], ['—', '-'], ['−', '-'], ['&', '+'],
]);

interface Account {
  readonly name: string;
  readonly iban: string;
  readonly bic: string;
}

interface Transfer {
  readonly endToEndId: string;
  readonly creditor: Account;
  readonly amountCents: bigint;
  readonly remittance: string;
}

function fail(field: string, problem: string): never {
  throw new PasserelleError('DATA_INVALID', `SEPA credit transfer: ${field}: ${problem}`, { field });
}

/**
 * Free text (names, remittance) in the SEPA Latin set. French partners are full of accents ("Théâtre de
 * la Comédie") that banks either reject or mangle, so we transliterate rather than refuse: the known
 * characters above first, then a compatibility decomposition (NFKD, which also turns no-break spaces
 * and ligatures like `ﬁ` into plain characters) with its combining marks dropped (é → e, ç → c). Any
 * character still outside the set (`<`, `"`, `€`, `_`, emoji…) becomes a blank, and runs of blanks are
 * collapsed, so that what reaches the partner's bank statement stays readable.
 */
export function toSepaText(text: string): string {
  const mapped = Array.from(text, (char) => TRANSLITERATIONS.get(char) ?? char).join('');
  const unaccented = mapped.normalize('NFKD').replace(/\p{M}/gu, '');
  return unaccented.replace(NOT_SEPA_CHAR, ' ').replace(/ {2,}/g, ' ').trim();
}

/**
 * Identifiers are not transliterated: they must reach the bank, and come back on its reports, exactly
 * as we keep them. EPC also forbids a leading or trailing `/` and `//` anywhere in a reference.
 */
function checkId(field: string, id: string): string {
  if (id.length === 0 || id.length > MAX_ID_LENGTH) fail(field, `must be 1 to ${MAX_ID_LENGTH} characters, got ${id.length}`);
  if (!SEPA_TEXT.test(id)) fail(field, `${JSON.stringify(id)} has characters outside the SEPA set (A-Z a-z 0-9 / - ? : ( ) . , ' + space)`);
  if (id.startsWith('/') || id.endsWith('/') || id.includes('//')) {
    fail(field, `${JSON.stringify(id)} may not start or end with "/" nor contain "//"`);
  }
  return id;
}

/** Names and remittance texts are checked after transliteration, since that is what the bank receives. */
function checkText(field: string, text: string, maxLength: number): string {
  const sepa = toSepaText(text);
  if (sepa.length === 0) fail(field, `${JSON.stringify(text)} has nothing left once limited to the SEPA character set`);
  if (sepa.length > maxLength) fail(field, `${sepa.length} characters (after transliteration) where at most ${maxLength} are allowed`);
  return sepa;
}

function checkIban(field: string, iban: string): string {
  const canonical = iban.replace(/\s/g, '').toUpperCase();
  const problem = ibanProblem(canonical);
  if (problem !== null) fail(field, `invalid IBAN ${JSON.stringify(iban)}: ${problem}`);
  return canonical;
}

function checkBic(field: string, bic: string): string {
  const canonical = bic.replace(/\s/g, '').toUpperCase();
  if (!isValidBic(canonical) || !SCHEMA_BIC.test(canonical)) fail(field, `invalid BIC ${JSON.stringify(bic)}`);
  return canonical;
}

function checkAccount(field: string, account: BankAccount): Account {
  return {
    name: checkText(`${field}.name`, account.name, MAX_NAME_LENGTH),
    iban: checkIban(`${field}.iban`, account.iban),
    bic: checkBic(`${field}.bic`, account.bic),
  };
}

function checkAmount(field: string, cents: number): bigint {
  if (!Number.isSafeInteger(cents) || cents <= 0) fail(field, `must be a positive integer number of cents, got ${cents}`);
  if (cents > MAX_PAYMENT_CENTS) fail(field, `${cents} cents is above the SEPA maximum of ${MAX_PAYMENT_CENTS}`);
  return BigInt(cents);
}

function checkPayment(index: number, payment: Payment): Transfer {
  const field = `payments[${index}]`;
  return {
    endToEndId: checkId(`${field}.endToEndId`, payment.endToEndId),
    creditor: checkAccount(`${field}.creditor`, payment.creditor),
    amountCents: checkAmount(`${field}.amountCents`, payment.amountCents),
    remittance: checkText(`${field}.remittance`, payment.remittance, MAX_REMITTANCE_LENGTH),
  };
}

/** Paying one statement twice is the one mistake a credit transfer file must never make. */
function checkPayments(payments: readonly Payment[]): Transfer[] {
  if (payments.length === 0) fail('payments', 'a credit transfer file needs at least one payment');
  const transfers = payments.map((payment, index) => checkPayment(index, payment));
  const seen = new Set<string>();
  transfers.forEach((transfer, index) => {
    if (seen.has(transfer.endToEndId)) fail(`payments[${index}].endToEndId`, `${transfer.endToEndId} appears twice in the file`);
    seen.add(transfer.endToEndId);
  });
  return transfers;
}

function checkCreatedAt(createdAt: Date): Date {
  if (!(createdAt instanceof Date) || Number.isNaN(createdAt.getTime())) fail('createdAt', 'not a valid date');
  return createdAt;
}


/** A real calendar day, not before the file is created: a bank refuses to execute in the past. */
function checkExecutionDate(date: string, createdAt: Date): string {
  if (!isIsoDate(date)) fail('executionDate', `${JSON.stringify(date)} is not a real date of the form YYYY-MM-DD`);
  const created = regionDate(createdAt.getTime());
  if (date < created) fail('executionDate', `${date} is before the file's creation date ${created}`);
  return date;
}

/** `1250n` → `12.50`: integer cents to the schema's decimal, by string, never through a float. */
function decimalEuros(cents: bigint): string {
  const digits = cents.toString().padStart(3, '0');
  return `${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** ISO 8601 in UTC without milliseconds, which some bank portals refuse: `2022-11-05T09:30:00Z`. */
function isoSeconds(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Transliteration has already removed `&`, `<`, `>` and `"` from free text, but identifiers and any
 * future field must not depend on that, so everything is escaped here. The apostrophe, allowed in SEPA
 * text, is left as is: attributes are double-quoted, and `Pass'Region` stays readable in the file.
 */
function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** An XML element: a name, then either escaped text or children, and optional attributes. */
type XmlNode = readonly [name: string, content: string | readonly XmlNode[], attributes?: Readonly<Record<string, string>>];

function renderXml(node: XmlNode, depth = 0): string {
  const [name, content, attributes = {}] = node;
  const indent = '  '.repeat(depth);
  const attrs = Object.entries(attributes).map(([key, value]) => ` ${key}="${escapeXml(value)}"`).join('');
  if (typeof content === 'string') return `${indent}<${name}${attrs}>${escapeXml(content)}</${name}>\n`;
  const children = content.map((child) => renderXml(child, depth + 1)).join('');
  return `${indent}<${name}${attrs}>\n${children}${indent}</${name}>\n`;
}

const bicNode = (name: string, bic: string): XmlNode => [name, [['FinInstnId', [['BIC', bic]]]]];
const ibanNode = (name: string, iban: string): XmlNode => [name, [['Id', [['IBAN', iban]]]]];

function transferNode(transfer: Transfer): XmlNode {
  return ['CdtTrfTxInf', [
    ['PmtId', [['EndToEndId', transfer.endToEndId]]],
    ['Amt', [['InstdAmt', decimalEuros(transfer.amountCents), { Ccy: 'EUR' }]]],
    bicNode('CdtrAgt', transfer.creditor.bic),
    ['Cdtr', [['Nm', transfer.creditor.name]]],
    ibanNode('CdtrAcct', transfer.creditor.iban),
    ['RmtInf', [['Ustrd', transfer.remittance]]],
  ]];
}

interface CheckedFile {
  readonly messageId: string;
  readonly createdAt: Date;
  readonly debtor: Account;
  readonly executionDate: string;
  readonly transfers: readonly Transfer[];
}

function checkFile(file: CreditTransferFile): CheckedFile {
  const createdAt = checkCreatedAt(file.createdAt);
  return {
    messageId: checkId('messageId', file.messageId),
    createdAt,
    debtor: checkAccount('debtor', file.debtor),
    executionDate: checkExecutionDate(file.executionDate, createdAt),
    transfers: checkPayments(file.payments),
  };
}

/**
 * One payment block for the whole file, booked as a single debit on the Region's account (BtchBookg),
 * so that its statement shows one line per run rather than one per partner. Its id is the message id:
 * there is only one block, and the bank reports on both by the same reference.
 */
function paymentInfoNode(file: CheckedFile, count: string, total: string): XmlNode {
  return ['PmtInf', [
    ['PmtInfId', file.messageId],
    ['PmtMtd', 'TRF'],
    ['BtchBookg', 'true'],
    ['NbOfTxs', count],
    ['CtrlSum', total],
    ['PmtTpInf', [['SvcLvl', [['Cd', 'SEPA']]]]],
    ['ReqdExctnDt', file.executionDate],
    ['Dbtr', [['Nm', file.debtor.name]]],
    ibanNode('DbtrAcct', file.debtor.iban),
    bicNode('DbtrAgt', file.debtor.bic),
    ['ChrgBr', 'SLEV'],
    ...file.transfers.map(transferNode),
  ]];
}

/**
 * The pain.001.001.03 document paying every payment of `file`. Throws DATA_INVALID, naming the field,
 * when anything would make the bank reject it.
 */
export function creditTransferXml(file: CreditTransferFile): string {
  const checked = checkFile(file);
  const count = String(checked.transfers.length);
  // Control sums are checked by the bank against the transactions: add integer cents, then format.
  const total = decimalEuros(checked.transfers.reduce((sum, transfer) => sum + transfer.amountCents, 0n));
  const header: XmlNode = ['GrpHdr', [
    ['MsgId', checked.messageId],
    ['CreDtTm', isoSeconds(checked.createdAt)],
    ['NbOfTxs', count],
    ['CtrlSum', total],
    ['InitgPty', [['Nm', checked.debtor.name]]],
  ]];
  const document: XmlNode = ['Document', [['CstmrCdtTrfInitn', [header, paymentInfoNode(checked, count, total)]]], { xmlns: NAMESPACE }];
  return `<?xml version="1.0" encoding="UTF-8"?>\n${renderXml(document)}`;
}
