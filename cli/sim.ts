import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../common/log.ts';
import { chipSeedOf, DEMO_CARDS, readDemoChips, readDemoTerminals, type DemoTerminalKey } from '../gateway/demo-data.ts';
import { PUBLIC_FILE, readGatewayKeys, readPublicKeys } from '../gateway/keys.ts';
import { CardBureau } from '../terminal/sim-bindings.ts';
import { DEMO_CHIPS_FILE, DEMO_TERMINALS_FILE, DEMO_TOKENS_FILE } from '../gateway/server.ts';
import { benefitUnit, isBenefit } from '../protocol/benefits.ts';
import { isValidCardNumber } from '../protocol/card.ts';
import { b64url, publicKeyFromSeed } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { parseEuros } from '../protocol/money.ts';
import { CardHolder } from '../simulators/card-holder.ts';
import { boxScreen } from '../simulators/console-display.ts';
import { SimTerminal } from '../simulators/sim-terminal.ts';

export interface SimSaleOptions {
  readonly terminal: string;
  readonly holder?: string;
  readonly card?: string;
  readonly benefit: string;
  readonly amount: string;
  readonly qr?: boolean;
  readonly code?: string;
  readonly dataDir: string;
  readonly gateway: string;
  readonly http: string;
}

/** `passerelle sim sale`: one sale on a simulated demo terminal, each screen printed as it is shown. */
export async function simSale(o: SimSaleOptions): Promise<void> {
  if (!isBenefit(o.benefit)) throw new PasserelleError('CONFIG_INVALID', `unknown benefit ${o.benefit}`);
  const benefit = o.benefit;
  const amount = benefitUnit(benefit) === 'cent' ? parseEuros(o.amount) : parseEntries(o.amount);
  const holder = cardHolder(o);
  const key = demoTerminal(o.dataDir, o.terminal);
  mkdirSync(join(o.dataDir, 'sim'), { recursive: true });
  const t = SimTerminal.start({
    terminalId: key.terminalId,
    seed: key.seed,
    gatewayUrl: o.gateway,
    gateway: readPublicKeys(join(o.dataDir, PUBLIC_FILE)),
    // The demo card's chip (from demo-cards.json), or a new chip personalised through the API, as the card bureau does.
    cards: new CardBureau(readGatewayKeys(o.dataDir).issuer, { chipSeed: await chipFor(o, holder.cardNumber) }),
    outboxFile: join(o.dataDir, 'sim', `outbox-${key.terminalId}.sqlite`),
    benefits: [benefit],
    log: createLogger({ level: 'warn', name: 'sim' }),
    onShow: (s) => console.log(boxScreen(s)),
  });
  try {
    await t.waitUntilUp(5000);
    const outcome = o.qr ? await t.sellWithQr(holder, benefit, amount, o.code ?? holder.pin) : await t.sellWithCard(holder, benefit, amount);
    console.log(`outcome: ${outcome.kind}${'txnId' in outcome ? ` (transaction ${outcome.txnId})` : ''}`);
    if (outcome.kind !== 'approved') process.exitCode = 1;
  } finally {
    await t.close();
  }
}

/**
 * The simulated card's chip: a demo card's own (the gateway recorded it at seeding), or, for another card,
 * a new chip personalised through the API with the demo operator token, so the gateway can check the
 * card's signature of the sale.
 */
async function chipFor(o: SimSaleOptions, cardNumber: string): Promise<(n: string) => Uint8Array | undefined> {
  const file = join(o.dataDir, DEMO_CHIPS_FILE);
  const demo = existsSync(file) ? chipSeedOf(readDemoChips(file)) : () => undefined;
  if (demo(cardNumber)) return demo;
  const tokens = join(o.dataDir, DEMO_TOKENS_FILE);
  if (!existsSync(tokens)) throw new PasserelleError('KEY_FILE_INVALID', `${tokens} does not exist: personalising a card needs the demo operator token`);
  const operator = (JSON.parse(readFileSync(tokens, 'utf8')) as { operator: string }).operator;
  const seed = randomBytes(32);
  const res = await fetch(`${o.http}/api/v1/cards/${cardNumber}/credential`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ cardPublicKey: b64url(publicKeyFromSeed(seed)), expiry: '2099-12-31', replace: true }),
  });
  if (res.status !== 201) {
    const err = (await res.json().catch(() => ({}))) as { error?: { fr?: string; message?: string } };
    throw new PasserelleError('DATA_INVALID', `the card could not be personalised (${res.status}): ${err.error?.message ?? 'no answer'}`);
  }
  return (n) => (n === cardNumber ? seed : undefined);
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

function demoTerminal(dataDir: string, terminalId: string): DemoTerminalKey {
  const file = join(dataDir, DEMO_TERMINALS_FILE);
  if (!existsSync(file)) throw new PasserelleError('KEY_FILE_INVALID', `${file} does not exist: is the gateway started with demo data in ${dataDir}?`);
  const keys = readDemoTerminals(file);
  const key = keys.find((k) => k.terminalId === terminalId);
  if (!key) throw new PasserelleError('CONFIG_INVALID', `no demo terminal ${terminalId}; one of: ${keys.map((k) => k.terminalId).join(', ')}`);
  return key;
}
