import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../common/log.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { DEMO_CARDS, DEMO_PARTNERS } from '../gateway/demo-data.ts';
import { startGateway, type Gateway } from '../gateway/server.ts';
import { BENEFITS, type Benefit } from '../protocol/benefits.ts';
import { CODES, type DeclineCode } from '../protocol/codes.ts';
import { CardHolder } from '../simulators/card-holder.ts';
import { boxScreen } from '../simulators/console-display.ts';
import { SimTerminal } from '../simulators/sim-terminal.ts';
import type { Outcome } from '../terminal/sale.ts';
import { formatAmount } from '../terminal/screens.ts';
import { CardBureau } from '../simulators/sim-bindings.ts';
import { chipSeedOf } from '../gateway/demo-data.ts';
import { simulatedBureauRegistry } from '../gateway/personalise.ts';

/**
 * `npm run demo`: a gateway on free ports with the demo data, simulated terminals, and a scripted set of
 * sales, each printed in French as the terminal display shows it. Exits 0 only if every outcome is the
 * expected one and the ledger's invariants hold.
 */

interface Scenario {
  readonly title: string;
  readonly terminal: string;
  readonly holder: string;
  readonly benefit: Benefit;
  readonly amount: number;
  readonly via: 'nfc' | 'qr';
  readonly code?: string;
  /** Lose the first reply on the way back, so the terminal resends the same request. */
  readonly loseFirstReply?: boolean;
  /** Cut the network before the sale (accepted offline), restore it after and wait for the settlement. */
  readonly cutLink?: boolean;
  readonly expect:
    | { readonly kind: 'approved'; readonly taken: number; readonly remainingToPay: number }
    | { readonly kind: 'declined'; readonly code: DeclineCode }
    | { readonly kind: 'offline'; readonly taken: number };
}

const SCENARIOS: readonly Scenario[] = [
  { title: 'Vente NFC', terminal: 'T-LIB-LYON-01', holder: 'Léa Martin', benefit: 'LEISURE_BOOKS', amount: 1250, via: 'nfc', expect: { kind: 'approved', taken: 1250, remainingToPay: 0 } },
  { title: 'Vente QR avec code secret', terminal: 'T-LIB-LYON-02', holder: 'Hugo Bernard', benefit: 'SCHOOL_BOOKS', amount: 2000, via: 'qr', expect: { kind: 'approved', taken: 2000, remainingToPay: 0 } },
  { title: 'Vente QR, code secret faux', terminal: 'T-LIB-LYON-02', holder: 'Hugo Bernard', benefit: 'SCHOOL_BOOKS', amount: 1000, via: 'qr', code: '9999', expect: { kind: 'declined', code: 'PIN_INCORRECT' } },
  { title: 'Débit partiel, reste à payer', terminal: 'T-JUDO-GRE-01', holder: 'Inès Petit', benefit: 'SPORT', amount: 7500, via: 'nfc', expect: { kind: 'approved', taken: 6000, remainingToPay: 1500 } },
  { title: 'Avantage non autorisé pour ce partenaire', terminal: 'T-CIN-VBN-01', holder: 'Léa Martin', benefit: 'SPORT', amount: 1000, via: 'nfc', expect: { kind: 'declined', code: 'BENEFIT_NOT_ALLOWED' } },
  { title: 'Cinéma, compté en entrées', terminal: 'T-CIN-VBN-01', holder: 'Léa Martin', benefit: 'CINEMA', amount: 2, via: 'nfc', expect: { kind: 'approved', taken: 2, remainingToPay: 0 } },
  { title: 'Musée : accès gratuit, compté', terminal: 'T-MUS-LYON-01', holder: 'Léa Martin', benefit: 'MUSEUM', amount: 1, via: 'nfc', expect: { kind: 'approved', taken: 1, remainingToPay: 0 } },
  { title: 'Carte en opposition', terminal: 'T-SPEC-CLF-01', holder: 'Tom Robert', benefit: 'SHOWS', amount: 1000, via: 'nfc', expect: { kind: 'declined', code: 'CARD_BLOCKED' } },
  { title: 'Réseau coupé : vente acceptée hors ligne, réglée au retour', terminal: 'T-LIB-LYON-01', holder: 'Hugo Bernard', benefit: 'LEISURE_BOOKS', amount: 1800, via: 'nfc', cutLink: true, expect: { kind: 'offline', taken: 1800 } },
  { title: 'Requête répétée (réponse perdue, renvoi)', terminal: 'T-AUTO-STE-01', holder: 'Inès Petit', benefit: 'DRIVING_LICENCE', amount: 12000, via: 'nfc', loseFirstReply: true, expect: { kind: 'approved', taken: 12000, remainingToPay: 0 } },
];

export async function runDemo(o: { keep?: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-demo-'));
  const config = loadGatewayConfig(undefined, { dataDir: dir, mqtt: { port: 0 }, http: { port: 0 }, log: { level: 'silent' } });
  const gateway = await startGateway(config, { log: silentLogger });
  console.log(`Passerelle — démonstration. Passerelle : ${gateway.mqttUrl} (terminaux), ${gateway.httpUrl} (HTTP)\n`);
  const terminals = new Map<string, SimTerminal>();
  let failures = 0;
  try {
    for (const [i, s] of SCENARIOS.entries()) {
      const t = terminals.get(s.terminal) ?? (await openTerminal(gateway, dir, s.terminal));
      terminals.set(s.terminal, t);
      if (!(await play(i + 1, s, t, gateway))) failures++;
    }
    const problems = await gateway.ledger.audit();
    if (problems.length > 0) {
      failures++;
      console.log(`✗ registre : ${problems.join('; ')}`);
    } else {
      console.log('✓ registre : chaque transfert s’équilibre, aucun solde négatif, journal et soldes concordent');
    }
  } finally {
    for (const t of terminals.values()) await t.close();
    await gateway.close();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
  console.log(failures === 0 ? `\n${SCENARIOS.length} ventes, toutes conformes.` : `\n${failures} résultat(s) non conforme(s).`);
  process.exitCode = failures === 0 ? 0 : 1;
}

async function openTerminal(gateway: Gateway, dir: string, terminalId: string): Promise<SimTerminal> {
  const key = gateway.demoTerminals.find((k) => k.terminalId === terminalId);
  if (!key) throw new Error(`no demo terminal ${terminalId}`);
  const t = SimTerminal.start({
    terminalId,
    seed: key.seed,
    gatewayUrl: gateway.mqttUrl,
    gateway: gateway.keys,
    cards: new CardBureau(gateway.keys.issuer, { chipSeed: chipSeedOf(gateway.demoChips), register: simulatedBureauRegistry(gateway.ledger) }),
    outboxFile: join(dir, `outbox-${terminalId}.sqlite`),
    config: { resendIntervalMs: 300, replyTimeoutMs: 5000 },
    log: silentLogger,
  });
  await t.waitUntilUp();
  return t;
}

async function play(n: number, s: Scenario, t: SimTerminal, gateway: Gateway): Promise<boolean> {
  const partner = DEMO_PARTNERS.find((p) => p.terminals.includes(s.terminal))!;
  const card = DEMO_CARDS.find((c) => c.holder === s.holder)!;
  const holder = new CardHolder(card.holder, card.number, card.pin);
  const unit = BENEFITS[s.benefit].unit;
  const how = s.via === 'nfc' ? 'présente sa carte (NFC)' : `montre son QR code et tape ${s.code ? 'un code faux' : 'son code'}`;
  console.log(`── ${n}. ${s.title}`);
  console.log(`   ${partner.name} · ${s.terminal}`);
  console.log(`   ${s.holder} ${how} · ${BENEFITS[s.benefit].fr} · ${formatAmount(s.amount, unit)}`);
  const repeatsBefore = gateway.pipeline.stats.repeats;
  if (s.loseFirstReply) t.link.dropNextReplies(1);
  if (s.cutLink) t.link.cut = true;
  const outcome = s.via === 'nfc' ? await t.sellWithCard(holder, s.benefit, s.amount) : await t.sellWithQr(holder, s.benefit, s.amount, s.code ?? holder.pin);
  console.log(boxScreen(t.bindings.display.last!));
  const problems = check(s, outcome);
  if (s.cutLink && outcome.kind === 'offline' && s.expect.kind === 'offline') {
    t.link.cut = false;
    const until = Date.now() + 10_000;
    while (t.terminal.outbox.entry(outcome.txnId)?.state === 'pending' && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const record = t.terminal.outbox.entry(outcome.txnId);
    const settled = record?.kind === 'sale' ? record : undefined;
    console.log(`   réseau rétabli ; vente transmise et réglée : ${settled?.status ?? 'non réglée'}, ${formatAmount(settled?.taken ?? 0, unit)} pris sur l’avantage`);
    if (settled?.status !== 'approved' || settled.taken !== s.expect.taken) problems.push(`règlement ${settled?.status ?? 'absent'} ${settled?.taken ?? ''}`);
  }
  if (s.loseFirstReply && 'txnId' in outcome) {
    const moves = (await gateway.ledger.transfersForTxn(outcome.txnId)).length;
    const repeated = gateway.pipeline.stats.repeats - repeatsBefore;
    console.log(`   réponse perdue ${t.link.dropped.length} fois ; renvoi de la même requête ; réponse d’origine reçue ; débits enregistrés : ${moves}`);
    if (moves !== 1) problems.push(`${moves} transferts au lieu d’un`);
    if (repeated < 1) problems.push('le renvoi n’a pas été reconnu comme répétition');
  }
  console.log(problems.length === 0 ? `   ✓ conforme : ${expectation(s)}\n` : `   ✗ NON CONFORME : ${problems.join('; ')} (attendu : ${expectation(s)})\n`);
  return problems.length === 0;
}

function check(s: Scenario, o: Outcome): string[] {
  const e = s.expect;
  if (o.kind !== e.kind) return [`résultat ${o.kind}`];
  if (e.kind === 'approved' && o.kind === 'approved') {
    const p: string[] = [];
    if (o.reply.taken !== e.taken) p.push(`pris ${o.reply.taken}`);
    if (o.reply.remainingToPay !== e.remainingToPay) p.push(`reste ${o.reply.remainingToPay}`);
    return p;
  }
  if (e.kind === 'declined' && o.kind === 'declined' && o.reply.code !== e.code) return [`motif ${o.reply.code}`];
  return [];
}

function expectation(s: Scenario): string {
  const unit = BENEFITS[s.benefit].unit;
  if (s.expect.kind === 'offline') return `accepté hors ligne, puis réglé au retour du réseau : ${formatAmount(s.expect.taken, unit)} pris sur l’avantage`;
  return s.expect.kind === 'approved'
    ? `accepté, ${formatAmount(s.expect.taken, unit)} pris sur l’avantage, ${formatAmount(s.expect.remainingToPay, unit)} à payer`
    : `refusé (${CODES[s.expect.code].fr})`;
}
