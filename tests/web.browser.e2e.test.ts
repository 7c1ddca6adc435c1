import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { DEMO_USERS_FILE, type DemoUser } from '../gateway/web/demo-users.ts';
import { webChannelId } from '../gateway/ledger/registry.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { holder, World } from './helpers/world.ts';

/**
 * The partners' web space and the Region's console in Debian's Chromium (playwright-core), through a real
 * gateway: a manager's sales at the web counter (a partial debit, three wrong codes that stop the code at
 * the partner's terminal too, a double-clicked form debited once), the convention signed, the sales CSV
 * against the ledger, a card opposed at the console then refused at a terminal, the fleet's silent
 * terminal with unsent sales, another partner's page, a form without its anti-forgery token, a login
 * locked after wrong passwords. Every page passes axe-core with no serious or critical violation and
 * logs no error (a CSP refusal would be one). Screenshots go to test-artifacts/web/.
 */

const SHOTS = join(process.cwd(), 'test-artifacts', 'web');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const P = '/partenaire/P-LIB-LYON';
const world = new World();
/** The gateway's clock runs this far ahead: the reimbursement test moves it past the day of the sales. */
let skew = 0;
let users: Record<string, DemoUser>;
let browser: Browser;
const problems: string[] = [];

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

async function open(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, locale: 'fr-FR', acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    // A refused page (403, 410…) is logged by Chromium as a failed resource: expected here, not a fault.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4(01|03|04|10|22|23)/.test(m.text())) problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
  page.on('dialog', (d) => void d.accept());
  return { context, page };
}

/** axe-core run in the page (evaluated, so the page's CSP need not admit it): serious and critical violations. */
async function axe(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const violations = await page.evaluate<AxeViolation[]>("axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)");
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.help}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Look at the page: screenshot, axe, then go on. */
async function check(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  expect(await axe(page), `${name}: accessibility`).toEqual([]);
}

async function login(page: Page, who: DemoUser): Promise<void> {
  await page.goto(`${world.gateway.httpUrl}/connexion`);
  await page.getByLabel('Adresse e-mail').fill(who.email);
  await page.getByLabel('Mot de passe').fill(who.password);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/connexion'));
}

async function counterSale(page: Page, o: { card: string; benefit: string; amount: string; code: string }): Promise<void> {
  await page.goto(`${world.gateway.httpUrl}${P}/encaisser`);
  await page.getByLabel(o.benefit).check();
  await page.getByLabel('Numéro de carte').fill(o.card);
  await page.getByLabel("Montant (en euros) ou nombre d'entrées").fill(o.amount);
  await page.getByLabel('Code secret du jeune').fill(o.code);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Many logins from one address in a minute: the address limit is raised; the account lock is tested.
  await world.startGateway({ now: () => Date.now() + skew }, { web: { loginPerMinute: 100 } });
  users = JSON.parse(readFileSync(join(world.dir, DEMO_USERS_FILE), 'utf8')) as Record<string, DemoUser>;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await world.close();
});

describe('the partner web space', () => {
  it('a manager logs in and debits a card at the web counter: a partial debit shows what the benefit paid and what is left to pay', async () => {
    const { context, page } = await open();
    await page.goto(`${world.gateway.httpUrl}${P}/ventes`);
    // Not logged in: sent to the login page, back to the page asked for after it.
    await page.waitForURL(/\/connexion\?suite=/);
    await check(page, '01-connexion');
    await page.getByLabel('Adresse e-mail').fill(users.manager!.email);
    await page.getByLabel('Mot de passe').fill(users.manager!.password);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**${P}/ventes`);
    await page.goto(`${world.gateway.httpUrl}${P}`);
    await check(page, '02-partenaire-accueil');

    const hugo = holder('Hugo Bernard');
    await counterSale(page, { card: hugo.cardNumber.replace(/(\d{4})(?=\d)/g, '$1 '), benefit: 'Livres loisirs', amount: '40,00', code: '4321' });
    await check(page, '03-encaisser');
    await page.getByRole('button', { name: 'Débiter la carte' }).click();
    await page.getByRole('heading', { name: 'Vente acceptée' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).toMatch(/Pris sur l'avantage\s+35,00\s€/);
    expect(text).toMatch(/Reste à payer par le jeune\s+5,00\s€/);
    expect(text).toContain('Débit partiel');
    await check(page, '04-vente-partielle');
    expect(await world.gateway.ledger.walletBalance(hugo.cardNumber, 'LEISURE_BOOKS')).toBe(0);
    await context.close();
  });

  it('three wrong codes at the web counter stop the code at this partner, its terminal included', async () => {
    const { context, page } = await open();
    await login(page, users.cashier!);
    const ines = holder('Inès Petit');
    for (let i = 0; i < 3; i++) {
      await counterSale(page, { card: ines.cardNumber, benefit: 'Livres loisirs', amount: '5', code: '0000' });
      await page.getByRole('button', { name: 'Débiter la carte' }).click();
      await page.getByRole('heading', { name: 'Vente refusée' }).waitFor();
    }
    expect(await page.locator('main').innerText()).toContain("code bloqué jusqu'à demain");
    await check(page, '05-code-faux');
    // The right code, now: refused at the counter and at the partner's terminal.
    await counterSale(page, { card: ines.cardNumber, benefit: 'Livres loisirs', amount: '5', code: '2580' });
    await page.getByRole('button', { name: 'Débiter la carte' }).click();
    await page.getByRole('heading', { name: 'Vente refusée' }).waitFor();
    expect(await page.locator('main').innerText()).toContain("Trop d'essais du code aujourd'hui");
    const t = await world.terminal('T-LIB-LYON-01', {}, ['LEISURE_BOOKS']);
    expect(await t.sellWithQr(ines, 'LEISURE_BOOKS', 500)).toMatchObject({ kind: 'declined', reply: { code: 'PIN_TRIES_EXCEEDED', taken: 0 } });
    expect(await world.gateway.ledger.walletBalance(ines.cardNumber, 'LEISURE_BOOKS')).toBe(1500);
    await context.close();
  });

  it('a form sent twice (double click, then the same form again) debits the card once', async () => {
    const { context, page } = await open();
    await login(page, users.manager!);
    const lea = holder('Léa Martin');
    const before = (await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS'))!;
    await counterSale(page, { card: lea.cardNumber, benefit: 'Livres loisirs', amount: '4,00', code: '1234' });
    const form = await page.evaluate<[string, string][]>("[...new FormData(document.querySelector('form[data-once]')).entries()].map(([k, v]) => [k, String(v)])");
    await page.getByRole('button', { name: 'Débiter la carte' }).dblclick();
    await page.getByRole('heading', { name: 'Vente acceptée' }).waitFor();
    // The same form once more, as a second click that got through or a reload would send it.
    const again = await page.evaluate<string>(`fetch(${JSON.stringify(`${P}/encaisser`)}, { method: 'POST', body: new URLSearchParams(${JSON.stringify(form)}) }).then((r) => r.text())`);
    expect(again).toContain("la carte n'a été débitée qu'une fois");
    const txnId = form.find(([k]) => k === 'txn')![1];
    expect(txnId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS')).toBe(before - 400);
    expect((await world.gateway.ledger.partnerSales({ partnerId: 'P-LIB-LYON', limit: 100 })).filter((s) => s.txnId === txnId)).toHaveLength(1);
    expect((await world.gateway.ledger.request(txnId))?.terminalId).toBe(webChannelId('P-LIB-LYON'));
    await context.close();
  });

  it('the manager signs the convention: who, when and the hash of the text are kept', async () => {
    const { context, page } = await open();
    await login(page, users.manager!);
    await page.goto(`${world.gateway.httpUrl}${P}/convention`);
    await check(page, '06-convention');
    await page.getByLabel("J'ai lu la convention").check();
    await page.getByLabel('Vos prénom et nom').fill('Claire Dubois');
    await page.getByRole('button', { name: 'Signer la convention' }).click();
    await page.getByText('Convention signée').waitFor();
    expect(await page.locator('main').innerText()).toContain('par Claire Dubois');
    await check(page, '07-convention-signee');
    const s = await world.gateway.ledger.conventionSignature('P-LIB-LYON', 'convention-2022-2027');
    expect(s).toMatchObject({ signerName: 'Claire Dubois', documentSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    await context.close();
  });

  it('the sales page lists the sales, and its CSV matches the ledger line for line', async () => {
    const { context, page } = await open();
    await login(page, users.accountant!);
    await page.goto(`${world.gateway.httpUrl}${P}/ventes`);
    await check(page, '08-ventes');
    const href = await page.getByRole('link', { name: 'Télécharger en CSV' }).getAttribute('href');
    const res = await page.request.get(`${world.gateway.httpUrl}${href}`);
    expect(res.headers()['content-type']).toBe('text/csv; charset=utf-8');
    const rows = parse((await res.body()).toString('utf8').replace(/^\uFEFF/, ''), { delimiter: ';', columns: true }) as Record<string, string>[];
    const ledger = await world.gateway.ledger.partnerSales({ partnerId: 'P-LIB-LYON', limit: 1000 });
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.map((r) => [r.identifiant, Number(r.montant_centimes), r.avantage])).toEqual(ledger.map((s) => [s.txnId, s.amountCents, s.benefit]));
    expect(rows.every((r) => /^\d{4}\*{8}\d{4}$/.test(r.carte!))).toBe(true);
    // An accountant follows the sales but has no counter.
    expect(await page.getByRole('link', { name: 'Encaisser' }).count()).toBe(0);
    expect((await page.goto(`${world.gateway.httpUrl}${P}/encaisser`))!.status()).toBe(403);
    await page.goto(`${world.gateway.httpUrl}${P}/releves`);
    await check(page, '09-remboursements');
    await context.close();
  });

  it("a partner cannot open another partner's pages by changing the address", async () => {
    const { context, page } = await open();
    await login(page, users.manager!);
    for (const path of ['/partenaire/P-CIN-VBN', '/partenaire/P-CIN-VBN/ventes', '/partenaire/P-CIN-VBN/ventes.csv', '/region', '/region/cartes']) {
      const res = await page.goto(`${world.gateway.httpUrl}${path}`);
      expect(res!.status(), path).toBe(403);
    }
    expect(await page.locator('main').innerText()).toContain('Action non autorisée');
    await check(page, '10-acces-refuse');
    await page.goto(`${world.gateway.httpUrl}${P}/terminaux`);
    await check(page, '11-terminaux');
    await page.goto(`${world.gateway.httpUrl}${P}/utilisateurs`);
    await check(page, '12-utilisateurs');
    await context.close();
  });

  it('a form posted without its anti-forgery token is refused and changes nothing', async () => {
    const { context, page } = await open();
    await login(page, users.manager!);
    const lea = holder('Léa Martin');
    const before = await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS');
    await counterSale(page, { card: lea.cardNumber, benefit: 'Livres loisirs', amount: '1,00', code: '1234' });
    await page.evaluate("document.querySelector('form[data-once] input[name=_csrf]').remove()");
    await page.getByRole('button', { name: 'Débiter la carte' }).click();
    await page.getByText('Formulaire expiré').waitFor();
    expect(await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS')).toBe(before);
    // A token of another session does not pass either.
    const forged = { _csrf: 'forged-token', carte: lea.cardNumber, avantage: 'LEISURE_BOOKS', montant: '1', code: '1234', txn: '0190a000-0000-7000-8000-00000000abcd' };
    const status = await page.evaluate<number>(`fetch(${JSON.stringify(`${P}/encaisser`)}, { method: 'POST', body: new URLSearchParams(${JSON.stringify(forged)}) }).then((r) => r.status)`);
    expect(status).toBe(403);
    expect(await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS')).toBe(before);
    await context.close();
  });

  it('a login is locked after repeated wrong passwords, even for the right one', async () => {
    const { context, page } = await open({ width: 390, height: 844 });
    const who = users.cinemaManager!;
    for (let i = 0; i < 5; i++) {
      await page.goto(`${world.gateway.httpUrl}/connexion`);
      await page.getByLabel('Adresse e-mail').fill(who.email);
      await page.getByLabel('Mot de passe').fill(`wrong-password-${i}`);
      await page.getByRole('button', { name: 'Se connecter' }).click();
      await page.getByRole('alert').waitFor();
    }
    expect(await page.getByRole('alert').innerText()).toContain('Compte verrouillé');
    await page.getByLabel('Mot de passe').fill(who.password);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').innerText()).toContain('Compte verrouillé');
    expect(page.url()).toContain('/connexion');
    await check(page, '13-connexion-verrouillee-mobile');
    await context.close();
  });
});

describe("the Region's console", () => {
  it('an operator opposes a card; a terminal sale on it is then refused', async () => {
    const { context, page } = await open();
    await login(page, users.operator!);
    await check(page, '20-region-accueil');
    await page.getByRole('link', { name: 'Cartes' }).click();
    await page.getByLabel('Nom du jeune').fill('camille');
    await page.getByRole('button', { name: 'Chercher' }).click();
    const camille = holder('Camille Durand');
    await check(page, '20b-recherche-cartes');
    await page.getByRole('link', { name: /\*{8}/ }).click();
    expect(await page.locator('h1').innerText()).toContain('********');
    // The number never shows whole, nor in the address.
    expect(page.url()).not.toContain(camille.cardNumber);
    expect(await page.content()).not.toContain(camille.cardNumber);
    await check(page, '21-carte');
    await page.getByLabel("Motif de l'opposition").selectOption('lost');
    await page.getByRole('button', { name: 'Mettre en opposition' }).click();
    await page.getByText('Carte mise en opposition').waitFor();
    await check(page, '22-carte-opposee');
    expect((await world.gateway.ledger.card(camille.cardNumber))?.status).toBe('opposed');
    const t = await world.terminal('T-LIB-LYON-01', {}, ['LEISURE_BOOKS']);
    expect(await t.sellWithCard(camille, 'LEISURE_BOOKS', 500)).toMatchObject({ kind: 'declined', reply: { code: 'CARD_BLOCKED', taken: 0 } });
    await context.close();
  });

  it('an operator suspends one benefit of a card, a terminal sale of it is refused, then lifts it', async () => {
    const { context, page } = await open();
    await login(page, users.operator!);
    const lea = holder('Léa Martin');
    await page.goto(`${world.gateway.httpUrl}/region/cartes`);
    await page.getByLabel('Ou le numéro complet de la carte').fill(lea.cardNumber);
    await page.getByRole('button', { name: 'Ouvrir' }).click();
    expect(page.url()).not.toContain(lea.cardNumber);
    await page.getByLabel('Avantage', { exact: true }).selectOption('SHOWS');
    await page.getByLabel('Motif de la suspension').fill('Incivilité signalée par le lycée');
    await page.getByRole('button', { name: 'Suspendre' }).click();
    await page.getByText('Avantage « Spectacles » suspendu').waitFor();
    const t = await world.terminal('T-SPEC-CLF-01', {}, ['SHOWS']);
    expect(await t.sellWithCard(lea, 'SHOWS', 500)).toMatchObject({ kind: 'declined', reply: { code: 'BENEFIT_SUSPENDED' } });
    await page.getByRole('button', { name: 'Lever la suspension de Spectacles' }).click();
    await page.getByText('Suspension levée').waitFor();
    expect(await t.sellWithCard(lea, 'SHOWS', 500)).toMatchObject({ kind: 'approved', reply: { taken: 500 } });
    await context.close();
  });

  it('the fleet page shows first a silent terminal holding unsent sales', async () => {
    const now = Date.now();
    await world.gateway.ledger.recordHeartbeat({
      terminalId: 'T-CIN-VBN-01',
      receivedAt: now - 3 * 3600_000,
      sentAt: now - 3 * 3600_000,
      startedAt: now - 5 * 3600_000,
      software: '0.1.0',
      policyVersion: 1,
      hotlistVersion: 1,
      settingsVersion: null,
      pending: 4,
      oldestPendingAt: now - 3.5 * 3600_000,
      offlinePending: 4,
      offlinePendingCents: 2200,
      devices: { nfc: 'ok', pad: 'ok', qr: 'absent' },
      lastSaleAt: now - 3 * 3600_000,
    });
    const { context, page } = await open();
    await login(page, users.technician!);
    await page.getByRole('link', { name: 'Terminaux', exact: true }).click();
    const first = page.locator('tbody tr').first();
    expect(await first.innerText()).toContain('T-CIN-VBN-01');
    expect(await first.innerText()).toContain('à relancer');
    // A technician sees no money: no amounts column.
    expect(await page.locator('main').innerText()).not.toContain('€');
    await check(page, '23-parc');
    await page.getByLabel('Avec des ventes non envoyées').check();
    await page.getByRole('button', { name: 'Filtrer' }).click();
    expect(await page.locator('tbody tr').count()).toBe(1);
    // A technician has no card pages.
    expect((await page.goto(`${world.gateway.httpUrl}/region/cartes`))!.status()).toBe(403);
    await context.close();
  });

  it("the partners, the offline report and the Region's users pages", async () => {
    const { context, page } = await open();
    await login(page, users.operator!);
    await page.goto(`${world.gateway.httpUrl}/region/partenaires`);
    expect(await page.locator('main').innerText()).toContain('Signée le');
    await check(page, '24-partenaires');
    // The equipment shop's yearly proof, recorded from the list.
    await page.getByRole('button', { name: /Enregistrer la preuve .* de Outillage Pro Valence/ }).click();
    await page.getByText("Preuve d'affichage").first().waitFor();
    expect(await world.gateway.ledger.partnerProofs('P-EQUIP-VAL')).toEqual([(await world.gateway.ledger.campaigns())[0]!.id]);
    await page.goto(`${world.gateway.httpUrl}/region/hors-ligne`);
    await check(page, '25-hors-ligne');
    await page.getByRole('link', { name: /Agent de la Région/ }).click();
    await check(page, '35-compte');
    // An address the site does not have: a page, not a program's answer.
    expect((await page.goto(`${world.gateway.httpUrl}/region/nulle-part`))!.status()).toBe(404);
    expect(await page.locator('h1').innerText()).toBe('Page introuvable');
    await check(page, '36-introuvable');
    await page.goto(`${world.gateway.httpUrl}/region/utilisateurs`);
    await page.getByLabel('Prénom et nom').fill('Nadia Benali');
    await page.getByLabel('Adresse e-mail').fill('nadia.benali@region.example');
    await page.getByLabel('Rôle').selectOption('technician');
    await page.getByRole('button', { name: "Créer l'invitation" }).click();
    const link = await page.getByLabel("Lien d'invitation").inputValue();
    expect(link).toMatch(/\/invitation\/[A-Za-z0-9_-]{43}$/);
    await check(page, '26-utilisateurs-region');
    await context.close();
    // The invited technician chooses a password and is in.
    const b = await open();
    await b.page.goto(link);
    await check(b.page, '27-invitation');
    await b.page.getByLabel('Nouveau mot de passe').fill('une phrase assez longue');
    await b.page.getByLabel('Le même mot de passe, une seconde fois').fill('une phrase assez longue');
    await b.page.getByRole('button', { name: 'Enregistrer et se connecter' }).click();
    await b.page.getByText('Bienvenue').waitFor();
    expect(b.page.url()).toMatch(/\/region$/);
    // The link is spent.
    expect((await b.page.goto(link))!.status()).toBe(410);
    await b.context.close();
  });

  it('an operator loads the start-of-year card file: one bad row refuses it whole, by line; a good one loads', async () => {
    const { context, page } = await open();
    await login(page, users.operator!);
    const campaign = (await world.gateway.ledger.campaigns())[0]!.id;
    const card = (n: number) => cardNumberFrom(`9100000000${String(n).padStart(5, '0')}`);
    const rows = (bad: boolean) =>
      ['card_number;dossier_id;holder;campaign;LEISURE_BOOKS;SPORT', ...[1, 2, 3].map((n) => `${n === 2 && bad ? '123' : card(n)};D-WEB-${n};Jeune ${n};${campaign};1500;${n === 3 ? '3000' : ''}`)].join('\r\n') + '\r\n';
    await page.getByRole('navigation').getByRole('link', { name: 'Chargement' }).click();
    await check(page, '32-chargement');
    await page.getByLabel('Fichier CSV').setInputFiles({ name: 'rentree-erreur.csv', mimeType: 'text/csv', buffer: Buffer.from(rows(true)) });
    await page.getByRole('button', { name: 'Charger le fichier' }).click();
    await page.getByText('Refusé : rien n’a été chargé').first().waitFor({ timeout: 15_000 });
    expect(await page.getByRole('region', { name: 'Lignes refusées' }).innerText()).toMatch(/^3\s/m);
    expect(await world.gateway.ledger.card(card(1))).toBeUndefined();
    await check(page, '33-chargement-refuse');
    await page.goto(`${world.gateway.httpUrl}/region/chargement`);
    await page.getByLabel('Fichier CSV').setInputFiles({ name: 'rentree.csv', mimeType: 'text/csv', buffer: Buffer.from(rows(false)) });
    await page.getByRole('button', { name: 'Charger le fichier' }).click();
    await page.getByText('3 cartes et 4 avantages chargés').waitFor({ timeout: 15_000 });
    expect(await world.gateway.ledger.walletBalance(card(3), 'SPORT')).toBe(3000);
    await check(page, '34-chargement-fait');
    // The file's form without its token writes nothing.
    const status = await page.evaluate<number>(`(() => { const f = new FormData(); f.append('fichier', new Blob(['x']), 'x.csv'); return fetch('/region/chargement', { method: 'POST', body: f }).then((r) => r.status); })()`);
    expect(status).toBe(403);
    await context.close();
  });

  it('a partner asks for a terminal; the Region grants it and is shown its enrolment code once', async () => {
    const m = await open();
    await login(m.page, users.manager!);
    await m.page.goto(`${world.gateway.httpUrl}${P}/terminaux`);
    await m.page.getByLabel('Où sera-t-il installé ?').fill('Deuxième caisse, rayon scolaire');
    await m.page.getByLabel('Pourquoi ? (facultatif)').fill('Rentrée scolaire');
    await m.page.getByRole('button', { name: 'Envoyer la demande' }).click();
    await m.page.getByText('Demande envoyée à la Région').waitFor();
    expect(await m.page.locator('main').innerText()).toContain('En attente');
    await check(m.page, '14-demande-terminal');

    const o = await open();
    await login(o.page, users.operator!);
    await o.page.getByRole('navigation').getByRole('link', { name: 'Demandes' }).click();
    expect(await o.page.getByLabel('Identifiant du terminal').inputValue()).toBe('T-LIB-LYON-01'.replace('01', '03'));
    await check(o.page, '28-demandes');
    await o.page.getByRole('button', { name: 'Accorder et créer le code' }).click();
    const code = await o.page.getByLabel("Code d'installation").inputValue();
    expect(code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    await check(o.page, '29-code-installation');
    expect((await world.gateway.ledger.openEnrolmentCodes()).map((c) => c.terminalId)).toContain('T-LIB-LYON-03');
    // Reloading the list does not show the code again.
    await o.page.goto(`${world.gateway.httpUrl}/region/demandes`);
    expect(await o.page.content()).not.toContain(code);
    await o.context.close();

    await m.page.goto(`${world.gateway.httpUrl}${P}/terminaux`);
    expect(await m.page.locator('main').innerText()).toContain('Accordé : terminal T-LIB-LYON-03');
    await m.context.close();
  });

  it('the next day the Region states the sales, pays them by SEPA, and the partner sees them paid', async () => {
    const saleDay = new Date(Date.now()).toLocaleDateString('sv-SE', { timeZone: 'Europe/Paris' });
    skew = 26 * 3600_000;
    const o = await open();
    await login(o.page, users.operator!);
    await o.page.getByRole('navigation').getByRole('link', { name: 'Remboursements' }).click();
    await o.page.getByLabel('Du', { exact: true }).fill(saleDay);
    await o.page.getByLabel('Au', { exact: true }).fill(saleDay);
    await o.page.getByRole('button', { name: 'Établir les relevés' }).click();
    await o.page.getByText('relevé(s) établi(s)').waitFor();
    const st = await world.gateway.ledger.statements({ partnerId: 'P-LIB-LYON' });
    expect(st).toHaveLength(1);
    expect(st[0]!.totalCents).toBe((await world.gateway.ledger.partnerSales({ partnerId: 'P-LIB-LYON', state: 'valid', limit: 1000 })).reduce((t, s) => t + s.amountCents, 0));
    await check(o.page, '30-remboursements-region');
    await o.page.getByRole('button', { name: 'Créer le fichier de virement SEPA' }).click();
    await o.page.getByText('Fichier de virement').first().waitFor();
    expect(await world.gateway.ledger.statement(st[0]!.id)).toMatchObject({ status: 'paid', paidBy: expect.stringMatching(/^PSR-/) });
    const href = await o.page.getByRole('link', { name: /^PSR-/ }).first().getAttribute('href');
    const xml = (await (await o.page.request.get(`${world.gateway.httpUrl}${href}`)).body()).toString('utf8');
    expect(xml).toContain('urn:iso:std:iso:20022:tech:xsd:pain.001.001.03');
    expect(xml).toContain(st[0]!.id);
    await o.page.getByRole('navigation').getByRole('link', { name: 'Activité' }).click();
    expect(await o.page.locator('.chart svg rect').count()).toBeGreaterThan(0);
    await check(o.page, '31-activite');
    await o.context.close();

    const a = await open();
    await login(a.page, users.accountant!);
    await a.page.goto(`${world.gateway.httpUrl}${P}/releves`);
    expect(await a.page.locator('main').innerText()).toContain('Payé le');
    await check(a.page, '15-releves-payes');
    await a.context.close();
  });

  it('no page logged an error (a script or style refused by the CSP would be one)', () => {
    expect(problems).toEqual([]);
  });
});
