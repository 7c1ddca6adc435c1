import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../common/log.ts';
import { DEMO_CARDS, readDemoTerminals, type DemoTerminalKey } from '../gateway/demo-data.ts';
import { PUBLIC_FILE, readGatewayKeys, readPublicKeys } from '../gateway/keys.ts';
import { CardBureau } from '../terminal/sim-bindings.ts';
import { DEMO_TERMINALS_FILE } from '../gateway/server.ts';
import { benefitUnit, isBenefit } from '../protocol/benefits.ts';
import { isValidCardNumber } from '../protocol/card.ts';
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
    // The simulated youth's card is personalised here with the gateway's issuer key, as the card bureau does.
    cards: new CardBureau(readGatewayKeys(o.dataDir).issuer),
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
