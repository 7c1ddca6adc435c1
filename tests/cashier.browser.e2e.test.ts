import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { PUBLIC_FILE } from '../gateway/keys.ts';
import { startSimService, writeSimTerminalConfig, type SimService } from '../simulators/sim-service.ts';
import { testBureau } from './helpers/chips.ts';
import { holder, World } from './helpers/world.ts';

/**
 * The cashier's page in Debian's Chromium (playwright-core), served by the terminal service on simulated
 * devices against a real gateway: an NFC sale typed with the keyboard alone, a partial debit, a QR sale with
 * the code on the pad, a sale cancelled, an offline sale that turns from provisional to settled, and who may
 * open the page. Screenshots of the main screens go to test-artifacts/cashier/.
 */

const TID = 'T-LIB-LYON-01';
const SHOTS = join(process.cwd(), 'test-artifacts', 'cashier');
const world = new World();
let sim: SimService;
let browser: Browser;
let page: Page;
let controlFile: string;
let firstLogin: string;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const screenText = () => page.locator('#screen').innerText();
async function screenShows(text: string): Promise<void> {
  await page.locator('#screen', { hasText: text }).waitFor({ timeout: 10_000 });
}

/** The cashier picks leisure books, types the amount and starts the sale; the terminal asks for the card. */
async function startSale(amount: string): Promise<void> {
  await page.locator('label', { hasText: 'Livres loisirs' }).click();
  await page.fill('#amount', amount);
  await page.click('#start');
  await screenShows('Présentez la carte');
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await world.startGateway();
  controlFile = join(world.dir, 'cashier-control.json');
  const configFile = writeSimTerminalConfig({
    dir: world.dir,
    name: 'cashier-terminal',
    terminalId: TID,
    seed: world.key(TID).seed,
    gatewayUrl: world.gateway.mqttUrl,
    gatewayKeysFile: join(world.dir, PUBLIC_FILE),
    benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'],
    extra: {
      replyTimeoutMs: 1500,
      control: { port: 0, file: controlFile },
      enrolment: { partnerId: 'P-LIB-LYON', partnerName: 'Librairie des Canuts (Lyon)', enrolledAt: new Date().toISOString(), gatewayHttpUrl: world.gateway.httpUrl },
    },
  });
  sim = await startSimService({ configFile, gateway: world.gateway.keys, cards: testBureau(world.gateway.keys.issuer, world.gateway.ledger), log: silentLogger });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR' });
  firstLogin = (JSON.parse(readFileSync(controlFile, 'utf8')) as { cashier: string }).cashier;
  await page.goto(firstLogin);
  await page.locator('#status', { hasText: 'En ligne' }).waitFor({ timeout: 10_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await sim?.close();
  await world.close();
});

describe('the cashier page', () => {
  it('opens once from the login link; without a session or from another origin nothing is sold', async () => {
    // The login link leaves the page on /caisse, the token out of the address bar and the history.
    expect(page.url()).toMatch(/\/caisse$/);
    expect(await page.locator('h1').innerText()).toContain('Librairie des Canuts (Lyon)');
    await shot('01-idle');
    const stranger = await browser.newPage();
    // Without the session cookie: refused. The link the page used is spent; the file holds a fresh one.
    expect((await stranger.goto(page.url()))!.status()).toBe(401);
    expect((await stranger.goto(firstLogin))!.status()).toBe(401);
    expect((JSON.parse(readFileSync(controlFile, 'utf8')) as { cashier: string }).cashier).not.toBe(firstLogin);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'caisse');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/caisse' });
    // A form posted from elsewhere with the cashier's cookie is refused (Origin checked).
    const forged = await page.context().request.post(new URL('/caisse/sale', page.url()).href, { data: { benefit: 'LEISURE_BOOKS', amount: '1,00' }, headers: { origin: 'http://evil.example' } });
    expect(forged.status()).toBe(403);
    await stranger.close();
  });

  it('sells by NFC with the keyboard alone, and shows the approval as the terminal does', async () => {
    const hugo = holder('Hugo Bernard');
    const before = (await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS'))!;
    // Radio buttons: arrow keys choose; Tab moves on to the amount; Enter submits.
    await page.locator('input[value="SCHOOL_BOOKS"]').focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.locator('input[value="LEISURE_BOOKS"]').isChecked()).toBe(true);
    await page.keyboard.press('Tab');
    await page.keyboard.type('12,50');
    await page.keyboard.press('Enter');
    await screenShows('Présentez la carte');
    await shot('02-present-card');
    expect(await page.locator('#cancel').isEnabled()).toBe(true);
    sim.devices.nfc.tap(hugo);
    await screenShows('PAIEMENT ACCEPTÉ');
    expect(await screenText()).toContain("Pris sur l'avantage : 12,50\u00a0€");
    await page.locator('#sales tbody tr', { hasText: 'Acceptée' }).first().waitFor();
    await shot('03-approved');
    expect(await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS')).toBe(before - 1250);
  });

  it('shows a partial debit: what was taken and what is left to pay', async () => {
    const lea = holder('Léa Martin');
    const balance = (await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS'))!;
    await startSale('20,00');
    sim.devices.nfc.tap(lea);
    await screenShows('PAIEMENT PARTIEL ACCEPTÉ');
    const text = await screenText();
    expect(text).toContain(`Pris sur l'avantage : ${(balance / 100).toFixed(2).replace('.', ',')}\u00a0€`);
    expect(text).toContain(`Reste à payer : ${((2000 - balance) / 100).toFixed(2).replace('.', ',')}\u00a0€`);
    await page.locator('#sales tbody tr', { hasText: 'Partielle' }).first().waitFor();
    await shot('04-partial');
  });

  it('sells by QR code with the code typed on the pad', async () => {
    const ines = holder('Inès Petit');
    await startSale('5');
    ines.showQr(sim.devices);
    await screenShows('Tapez votre code secret');
    await shot('05-qr-code-on-pad');
    ines.typeCode(sim.devices, ines.pin);
    await screenShows('PAIEMENT ACCEPTÉ');
    expect(await screenText()).toContain("Pris sur l'avantage : 5,00\u00a0€");
  });

  it('a wrong amount is refused with a message; a sale waiting for the card is cancelled from the page', async () => {
    await page.fill('#amount', '12,505');
    await page.click('#start');
    await page.locator('#error', { hasText: 'Montant' }).waitFor();
    await page.fill('#amount', '3,00');
    await page.click('#start');
    await screenShows('Présentez la carte');
    await page.click('#cancel');
    await screenShows('VENTE ANNULÉE');
    await shot('06-cancelled');
  });

  it('an offline sale reads "provisoire", then its final result once the gateway settles it', async () => {
    const hugo = holder('Hugo Bernard');
    await world.gateway.close();
    await page.locator('#status', { hasText: 'Hors ligne' }).waitFor({ timeout: 10_000 });
    await startSale('4,00');
    sim.devices.nfc.tap(hugo);
    await screenShows('ACCEPTÉ HORS LIGNE');
    await page.locator('#sales tbody tr', { hasText: 'provisoire' }).first().waitFor();
    expect(await page.locator('#status').innerText()).toContain("1 vente en attente d'envoi");
    await shot('07-offline-provisional');
    await world.startGateway();
    await page.locator('#sales tbody tr', { hasText: 'Réglée — acceptée' }).first().waitFor({ timeout: 20_000 });
    await page.locator('#status', { hasText: 'aucune vente en attente' }).waitFor({ timeout: 10_000 });
    // The terminal's own status bar, under the screen, says so too: it never contradicts the list.
    await page.locator('#screen .footer', { hasText: 'aucune vente en attente' }).waitFor({ timeout: 10_000 });
    await shot('08-offline-settled');
  }, 40_000);

  it('cancels the last sale the same day: the amount goes back to the benefit, once', async () => {
    const hugo = holder('Hugo Bernard');
    await startSale('6,00');
    sim.devices.nfc.tap(hugo);
    await screenShows('PAIEMENT ACCEPTÉ');
    const before = (await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS'))!;
    page.once('dialog', (d) => void d.accept());
    await page.click('#cancel-last');
    await screenShows('VENTE ANNULÉE');
    expect(await screenText()).toContain("Rendu à l'avantage : 6,00\u00a0€");
    await page.locator('#sales tbody tr', { hasText: 'Annulée' }).first().waitFor();
    await shot('09-last-sale-cancelled');
    expect(await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS')).toBe(before + 600);
    // Once: asked again, the page says why and nothing is sent.
    page.once('dialog', (d) => void d.accept());
    await page.click('#cancel-last');
    await page.locator('#cancel-error', { hasText: 'Vente déjà annulée' }).waitFor();
    // Dismissed: nothing happens.
    page.once('dialog', (d) => void d.dismiss());
    await page.click('#cancel-last');
    expect(await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS')).toBe(before + 600);
  });

  it('a cancellation made while the server is out of reach is queued, then decided when it returns', async () => {
    const hugo = holder('Hugo Bernard');
    await startSale('2,00');
    sim.devices.nfc.tap(hugo);
    await screenShows('PAIEMENT ACCEPTÉ');
    const before = (await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS'))!;
    await world.gateway.close();
    page.once('dialog', (d) => void d.accept());
    await page.click('#cancel-last');
    await screenShows('ANNULATION ENREGISTRÉE');
    await page.locator('#sales tbody tr:first-child td:last-child', { hasText: "Annulation en attente d'envoi" }).waitFor();
    await world.startGateway();
    await page.locator('#sales tbody tr:first-child td:last-child', { hasText: 'Annulée' }).waitFor({ timeout: 20_000 });
    expect(await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS')).toBe(before + 200);
  }, 40_000);

  it('the service stops while the page is open: its live stream does not hold the stop', async () => {
    await page.locator('#status', { hasText: 'En ligne' }).waitFor({ timeout: 10_000 });
    const started = Date.now();
    await sim.close();
    expect(Date.now() - started).toBeLessThan(5000);
    await page.locator('#status', { hasText: 'Terminal injoignable' }).waitFor({ timeout: 10_000 });
    await shot('10-terminal-stopped');
  });
});
