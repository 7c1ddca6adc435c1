import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { parseConfig, readJsonFile } from '../common/config.ts';
import { readKeyFileText, readPublicKeys, seedOf, terminalKeyList } from '../common/key-file.ts';
import { createLogger } from '../common/log.ts';
import { chipSeedOf, DEMO_CARDS, readDemoChips } from '../gateway/demo-data.ts';
import { writeAtomic } from '../common/files.ts';
import { PUBLIC_FILE } from '../gateway/keys.ts';
import { DEMO_CHIPS_FILE, DEMO_TERMINALS_FILE, DEMO_TOKENS_FILE } from '../gateway/server.ts';
import { benefitUnit, isBenefit, type Benefit } from '../protocol/benefits.ts';
import { isValidCardNumber, maskCardNumber } from '../protocol/card.ts';
import { CODES, isCode, type Code } from '../protocol/codes.ts';
import { b64url, fromB64url } from '../protocol/crypto.ts';
import { isPasserelleError, PasserelleError } from '../protocol/errors.ts';
import { parseEuros } from '../protocol/money.ts';
import { personaliseThroughApi } from '../simulators/api-card-bureau.ts';
import type { SimPassCard } from '../simulators/card.ts';
import { CardHolder } from '../simulators/card-holder.ts';
import { boxScreen } from '../simulators/console-display.ts';
import type { RepeatContent } from '../simulators/repeat.ts';
import { SimTerminal } from '../simulators/sim-terminal.ts';
import { TerminalConfigSchema } from '../terminal/config.ts';
import type { Outcome } from '../terminal/sale.ts';
import type { SaleEntry } from '../terminal/outbox-store.ts';
import { formatAmount } from '../terminal/screens.ts';
import { IssuedCards } from '../simulators/sim-bindings.ts';
import { SIM_DEFAULTS } from './sim-defaults.ts';

export interface SimSaleOptions {
  /** The terminal id: a demo terminal's, or the one a key file holding several keys (or only a seed) is for. */
  readonly terminal?: string;
  /** The terminal's key: a base64url seed, `{ terminalId, seed }`, or a list of them (demo-terminals.json). */
  readonly keyFile?: string;
  /** A terminal's own config (terminal/config.ts): its id, gateway URL, key file, gateway keys file, outbox. */
  readonly config?: string;
  /** The gateway's public keys (gateway-public.json). */
  readonly gatewayKeys?: string;
  readonly holder?: string;
  readonly card?: string;
  readonly benefit: string;
  readonly amount: string;
  readonly qr?: boolean;
  readonly code?: string;
  /** Cut the link before the sale, restore it after, and wait for the gateway's settlement. */
  readonly offline?: boolean;
  /** Send the sale's request again under its id: `same`, `other`, or both (`same,other`). */
  readonly repeat?: string;
  /** An operator token, to personalise the simulated card through the API. */
  readonly token?: string;
  /** The card already has another chip: give it this simulator's (audited by the gateway). */
  readonly replaceChip?: boolean;
  readonly dataDir: string;
  readonly gateway?: string;
  readonly http?: string;
}

/** How long the steps of a simulated sale may take before the command gives up. */
const LINK_UP_MS = 5000;
/** A terminal's first signed gateway time may only come with the next hotlist refresh (every minute by default). */
const OFFLINE_READY_MS = 90_000;
const OFFLINE_NOTE_MS = 2000;
const SETTLE_MS = 15_000;

/** A terminal the simulator speaks as. */
interface Identity {
  readonly terminalId: string;
  readonly seed: Uint8Array;
  /** Where the key came from, for the header line. */
  readonly source: string;
  readonly gatewayUrl: string;
  readonly gatewayKeysFile: string;
  /** One terminal, one record sequence: the same outbox from one run to the next. */
  readonly outboxFile: string;
}

interface Plan {
  readonly benefit: Benefit;
  readonly amount: number;
  readonly holder: CardHolder;
  readonly repeats: readonly RepeatContent[];
}

/**
 * `passerelle sim sale`: one sale on a simulated terminal, each screen printed as it is shown. Any terminal
 * whose key is given (a demo terminal by default); the card is personalised through the gateway's API with
 * an operator token, as a real card is, so no gateway private file is needed. Options make the sale offline
 * (link cut, then restored and settled) and repeat its request (same id, same or other content).
 */
export async function simSale(o: SimSaleOptions): Promise<void> {
  const plan = salePlan(o);
  const id = terminalIdentity(o);
  const gateway = readPublicKeys(id.gatewayKeysFile);
  const card = await simulatedCard(o, plan.holder.cardNumber);
  console.log(`terminal ${id.terminalId} (clé : ${id.source}) · passerelle ${id.gatewayUrl} · carte ${maskCardNumber(card.cardNumber)} personnalisée par la passerelle`);
  mkdirSync(dirname(id.outboxFile), { recursive: true });
  const t = SimTerminal.start({
    terminalId: id.terminalId,
    seed: id.seed,
    gatewayUrl: id.gatewayUrl,
    gateway,
    cards: new IssuedCards([card]),
    outboxFile: id.outboxFile,
    benefits: [plan.benefit],
    // Warnings go to stderr, so stdout stays what the terminal shows and what the command found.
    log: createLogger({ level: 'warn', name: 'sim', destination: pino.destination({ fd: 2, sync: true }) }),
    onShow: (s) => console.log(boxScreen(s)),
  });
  try {
    await connect(t);
    if (!(await sell(t, plan, o))) process.exitCode = 1;
  } finally {
    await t.close();
  }
}

function salePlan(o: SimSaleOptions): Plan {
  if (!isBenefit(o.benefit)) throw new PasserelleError('CONFIG_INVALID', `unknown benefit ${o.benefit}`);
  const benefit = o.benefit;
  const amount = benefitUnit(benefit) === 'cent' ? parseEuros(o.amount) : parseEntries(o.amount);
  return { benefit, amount, holder: cardHolder(o), repeats: repeatsOf(o.repeat) };
}

function repeatsOf(text: string | undefined): RepeatContent[] {
  if (text === undefined) return [];
  const kinds = text.split(',').map((k) => k.trim());
  for (const k of kinds) if (k !== 'same' && k !== 'other') throw new PasserelleError('CONFIG_INVALID', `--repeat takes same, other or same,other, not ${text}`);
  return kinds as RepeatContent[];
}

/** A refused connection says why, in the technician's words too, instead of waiting for nothing. */
async function connect(t: SimTerminal): Promise<void> {
  try {
    await t.waitUntilUp(LINK_UP_MS);
  } catch (e) {
    if (isPasserelleError(e) && (e.code === 'LINK_REFUSED' || e.code === 'LINK_NOT_AUTHORIZED')) console.log(`${e.code} (${CODES[e.code].num}) : ${CODES[e.code].fr}`);
    throw e;
  }
}

/** The sale, then what the options ask for; true when every result is the expected one. */
async function sell(t: SimTerminal, plan: Plan, o: SimSaleOptions): Promise<boolean> {
  if (o.offline) await cutLink(t);
  const outcome = o.qr ? await t.sellWithQr(plan.holder, plan.benefit, plan.amount, o.code ?? plan.holder.pin) : await t.sellWithCard(plan.holder, plan.benefit, plan.amount);
  console.log(`outcome: ${outcome.kind}${'txnId' in outcome ? ` (transaction ${outcome.txnId})` : ''}`);
  let ok = outcome.kind === (o.offline ? 'offline' : 'approved');
  if (o.offline) {
    t.link.cut = false;
    if (outcome.kind === 'offline') ok = (await settle(t, outcome.txnId)) && ok;
  }
  for (const content of plan.repeats) ok = (await repeat(t, outcome, content)) && ok;
  return ok;
}

/** Cut the link once the terminal holds what an offline sale needs (the gateway's signed documents and time). */
async function cutLink(t: SimTerminal): Promise<void> {
  // The signed documents come with the subscription; a terminal that never heard the gateway's time gets it
  // with the next hotlist refresh (every minute by default), which is worth a word while it waits.
  await t.waitUntilOfflineReady(OFFLINE_NOTE_MS).catch(async () => {
    const missing = t.offlineReadiness();
    if (missing !== undefined) console.log(`en attente ${AWAITED[missing] ?? `de ce qui manque (${missing})`}…`);
    await t.waitUntilOfflineReady(OFFLINE_READY_MS);
  });
  t.link.cut = true;
  console.log('réseau coupé avant la vente');
}

/** What an offline sale still waits for, by the code it would be refused with. */
const AWAITED: Partial<Record<Code, string>> = {
  OFFLINE_NO_POLICY: 'des règles hors ligne signées par la passerelle',
  OFFLINE_HOTLIST_STALE: 'de la liste des cartes bloquées',
  CLOCK_UNTRUSTED: "de l'heure signée de la passerelle (ce terminal n'en a pas encore reçu : elle vient avec la prochaine liste des cartes bloquées, chaque minute)",
};

async function settle(t: SimTerminal, txnId: string): Promise<boolean> {
  const e = await t.waitUntilSettled(txnId, SETTLE_MS);
  console.log(`réseau rétabli ; vente transmise et réglée : ${settlementText(e)}`);
  return e.status === 'approved';
}

function settlementText(e: SaleEntry): string {
  const unit = e.unit;
  const guaranteed = e.guaranteed ? `, dont ${formatAmount(e.guaranteed, unit)} garantis par la Région` : '';
  if (e.status === 'approved') return `approved, ${formatAmount(e.taken ?? 0, unit)} pris sur l'avantage${guaranteed}`;
  const why = e.code !== null && isCode(e.code) ? ` (${e.code} : ${CODES[e.code].fr})` : '';
  return `${e.status ?? e.state}${why}${guaranteed}`;
}

/** Send the sale's request again under its id and say whether the gateway answered as it must. */
async function repeat(t: SimTerminal, outcome: Outcome, content: RepeatContent): Promise<boolean> {
  const what = content === 'same' ? 'même id, même contenu' : 'même id, autre contenu';
  const txnId = 'txnId' in outcome ? outcome.txnId : undefined;
  if (txnId === undefined || t.terminal.outbox.entry(txnId)?.state !== 'replied') {
    console.log(`renvoi (${what}) impossible : la vente n'a pas de réponse de la passerelle à renvoyer`);
    return false;
  }
  const a = await t.repeat(txnId, content);
  const e = t.terminal.outbox.entry(txnId);
  const unit = e?.kind === 'sale' ? e.unit : 'cent';
  const answer = a.kind === 'reply' ? `${a.status}, ${a.original ? "la réponse d'origine" : 'une réponse différente de celle reçue la première fois'}` : `refusé, ${a.code} (${CODES[a.code].num}) : ${CODES[a.code].fr}`;
  const ok = content === 'same' ? a.kind === 'reply' && a.original : a.kind === 'rejected' && a.code === 'TXN_CONFLICT';
  const expected = content === 'same' ? "la réponse d'origine" : 'TXN_CONFLICT';
  console.log(`renvoi (${what}, montant ${formatAmount(a.amount, unit)}) : ${answer}${ok ? '' : ` — NON CONFORME (attendu : ${expected})`}`);
  return ok;
}

/**
 * Who the simulator speaks as: a terminal's own config (`--config`), a key file (`--key-file`), or a demo
 * terminal of the data directory (`-t`). The outbox is the config's, or one per terminal under the data
 * directory, kept from one run to the next: the gateway expects one record sequence per terminal.
 */
function terminalIdentity(o: SimSaleOptions): Identity {
  const defaultKeys = join(o.dataDir, PUBLIC_FILE);
  const simOutbox = (tid: string) => join(o.dataDir, 'sim', `outbox-${tid}.sqlite`);
  if (o.config) {
    const c = parseConfig(TerminalConfigSchema, readJsonFile(o.config), o.config);
    if (o.terminal && o.terminal !== c.terminalId) throw new PasserelleError('CONFIG_INVALID', `${o.config} is the config of ${c.terminalId}, not ${o.terminal}`);
    const keyFile = o.keyFile ?? c.keyFile;
    if (!keyFile) throw new PasserelleError('CONFIG_INVALID', `${o.config} names no keyFile: give --key-file`);
    const key = readTerminalKey(keyFile, c.terminalId);
    return { ...key, gatewayUrl: o.gateway ?? c.gatewayUrl, gatewayKeysFile: o.gatewayKeys ?? c.gatewayKeysFile ?? defaultKeys, outboxFile: c.outboxFile };
  }
  const file = o.keyFile ?? join(o.dataDir, DEMO_TERMINALS_FILE);
  if (!o.keyFile && !existsSync(file)) throw new PasserelleError('KEY_FILE_INVALID', `${file} does not exist: give the terminal's --key-file (or --config), or start the gateway with demo data in ${o.dataDir}`);
  const key = readTerminalKey(file, o.terminal);
  return { ...key, gatewayUrl: o.gateway ?? SIM_DEFAULTS.mqttUrl, gatewayKeysFile: o.gatewayKeys ?? defaultKeys, outboxFile: simOutbox(key.terminalId) };
}

/** A terminal key file: only the base64url seed (a terminal's keyFile), `{ terminalId, seed }`, or a list of those. */
function readTerminalKey(file: string, terminalId: string | undefined): { terminalId: string; seed: Uint8Array; source: string } {
  const text = readKeyFileText(file);
  const seed = seedOf(text, file);
  if (seed) {
    if (!terminalId) throw new PasserelleError('CONFIG_INVALID', `${file} holds only a seed: give the terminal id with -t`);
    return { terminalId, seed, source: file };
  }
  const keys = terminalKeyList(text, file);
  const key = terminalId === undefined && keys.length === 1 ? keys[0] : keys.find((k) => k.terminalId === terminalId);
  if (!key) throw new PasserelleError('CONFIG_INVALID', `${file} has no key for ${terminalId ?? 'one terminal: give -t'}; it has ${keys.map((k) => k.terminalId).join(', ')}`);
  return { terminalId: key.terminalId, seed: fromB64url(key.seed, 32, `${file} seed of ${key.terminalId}`), source: file };
}

/**
 * The simulated card, personalised through the gateway's API like a real one: a demo card keeps its chip
 * (demo-cards.json; the gateway already holds its key), another card keeps the chip this simulator made
 * for it before (sim/chips.json), or gets a new one.
 */
async function simulatedCard(o: SimSaleOptions, cardNumber: string): Promise<SimPassCard> {
  const demoFile = join(o.dataDir, DEMO_CHIPS_FILE);
  const demoSeed = existsSync(demoFile) ? chipSeedOf(readDemoChips(demoFile))(cardNumber) : undefined;
  const chipsFile = join(o.dataDir, 'sim', 'chips.json');
  const kept = keptChips(chipsFile);
  const seed = demoSeed ?? (kept[cardNumber] ? fromB64url(kept[cardNumber], 32, `${chipsFile} chip of a card`) : randomBytes(32));
  // The chip's seed is kept before the gateway records its key: a failure in between must not leave the
  // gateway holding a chip this simulator has lost (the card would then need --replace-chip).
  if (!demoSeed && !kept[cardNumber]) {
    mkdirSync(dirname(chipsFile), { recursive: true });
    writeAtomic(chipsFile, JSON.stringify({ ...kept, [cardNumber]: b64url(seed) }, null, 2) + '\n', 0o600);
  }
  let card: SimPassCard;
  try {
    card = await personaliseThroughApi({ httpUrl: o.http ?? SIM_DEFAULTS.httpUrl, token: operatorToken(o), cardNumber, chipSeed: seed, ...(o.replaceChip ? { replace: true } : {}) });
  } catch (e) {
    if (isPasserelleError(e) && e.code === 'CARD_ALREADY_PERSONALISED') throw new PasserelleError(e.code, `${e.message} (--replace-chip gives it this simulator's chip)`);
    throw e;
  }
  return card;
}

function keptChips(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const json = readJsonFile(file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new PasserelleError('KEY_FILE_INVALID', `${file}: not an object of card number to chip seed`);
  return json as Record<string, string>;
}

function operatorToken(o: SimSaleOptions): string {
  if (o.token) return o.token;
  const file = join(o.dataDir, DEMO_TOKENS_FILE);
  if (!existsSync(file)) throw new PasserelleError('UNAUTHENTICATED', `personalising the card needs an operator token: give --token (or run against a gateway with demo data, whose ${file} holds one)`);
  const token = (readJsonFile(file) as { operator?: unknown }).operator;
  if (typeof token !== 'string') throw new PasserelleError('KEY_FILE_INVALID', `${file} holds no operator token`);
  return token;
}

function parseEntries(text: string): number {
  if (!/^[1-9][0-9]{0,2}$/.test(text)) throw new PasserelleError('AMOUNT_INVALID', `not a number of entries: ${text}`);
  return Number(text);
}

function cardHolder(o: SimSaleOptions): CardHolder {
  if (o.holder) {
    const c = DEMO_CARDS.find((x) => x.holder === o.holder);
    if (!c) throw new PasserelleError('CONFIG_INVALID', `no demo holder "${o.holder}"; one of: ${DEMO_CARDS.map((x) => x.holder).join(', ')}`);
    return new CardHolder(c.holder, c.number, c.pin);
  }
  if (!o.card || !isValidCardNumber(o.card)) throw new PasserelleError('CARD_NUMBER_INVALID', 'give --holder, or --card with a 16-digit card number');
  return new CardHolder('carte', o.card, o.code ?? null);
}
