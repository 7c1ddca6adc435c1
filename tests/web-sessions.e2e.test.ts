import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_USERS_FILE, type DemoUser } from '../gateway/web/demo-users.ts';
import { World } from './helpers/world.ts';

/**
 * The web space's sessions over plain HTTP (no browser): the cookie's attributes, where a login may send
 * you, logout and disabled accounts ending every copy of a session, idle and absolute expiry (on the
 * gateway's clock, moved by the test), the same answer for an unknown address and a wrong password, and
 * hostile forms refused with a page and nothing done.
 */

const world = new World();
let skew = 0;
let users: Record<string, DemoUser>;

/** A client that keeps the session cookie and the last page's anti-forgery token. */
class Client {
  cookie = '';
  csrf = '';

  async request(method: 'GET' | 'POST', path: string, form?: Record<string, string>, raw?: { body: string; type: string }) {
    const headers: Record<string, string> = {};
    if (this.cookie) headers.cookie = this.cookie;
    let body: string | undefined;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams({ _csrf: this.csrf, ...form }).toString();
    } else if (raw) {
      headers['content-type'] = raw.type;
      body = raw.body;
    }
    const res = await fetch(`${world.gateway.httpUrl}${path}`, { method, headers, body, redirect: 'manual' });
    const set = res.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0]!;
    const text = await res.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (token) this.csrf = token;
    return { status: res.status, text, location: res.headers.get('location'), setCookie: set };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  post(path: string, form: Record<string, string> = {}) {
    return this.request('POST', path, form);
  }

  async login(who: DemoUser, suite = '') {
    await this.get('/connexion');
    return this.post('/connexion', { email: who.email, password: who.password, suite });
  }
}

beforeAll(async () => {
  await world.startGateway({ now: () => Date.now() + skew }, { web: { loginPerMinute: 100 } });
  users = JSON.parse(readFileSync(join(world.dir, DEMO_USERS_FILE), 'utf8')) as Record<string, DemoUser>;
}, 60_000);

afterAll(() => world.close());

describe('web sessions', () => {
  it('the session cookie is HttpOnly, SameSite=Strict, for the whole site; pages are not cached', async () => {
    const c = new Client();
    const page = await c.get('/connexion');
    expect(page.setCookie).toMatch(/^passerelle_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
    const r = await fetch(`${world.gateway.httpUrl}/connexion`);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('behind a trusted reverse proxy the cookie is Secure and links carry the public address; headers from anyone else are not believed', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'pass.example.fr', 'x-forwarded-for': '203.0.113.7' };
    const plain = await fetch(`${world.gateway.httpUrl}/connexion`, { headers: forwarded });
    expect(plain.headers.get('set-cookie')).not.toContain('Secure');
    const proxied = new World();
    try {
      await proxied.startGateway({}, { http: { trustProxy: ['127.0.0.1'] } });
      const r = await fetch(`${proxied.gateway.httpUrl}/connexion`, { headers: forwarded });
      expect(r.headers.get('set-cookie')).toMatch(/; Secure/);
      // An invitation made through the proxy names the public address.
      const demo = JSON.parse(readFileSync(join(proxied.dir, DEMO_USERS_FILE), 'utf8')) as Record<string, DemoUser>;
      const jar = { cookie: '', csrf: '' };
      const call = async (method: string, path: string, form?: Record<string, string>) => {
        const res = await fetch(`${proxied.gateway.httpUrl}${path}`, {
          method,
          redirect: 'manual',
          headers: { ...forwarded, ...(jar.cookie ? { cookie: jar.cookie } : {}), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
          ...(form ? { body: new URLSearchParams({ _csrf: jar.csrf, ...form }).toString() } : {}),
        });
        const set = res.headers.get('set-cookie');
        if (set) jar.cookie = set.split(';')[0]!;
        const text = await res.text();
        jar.csrf = /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? jar.csrf;
        return text;
      };
      await call('GET', '/connexion');
      await call('POST', '/connexion', { email: demo.operator!.email, password: demo.operator!.password });
      await call('GET', '/region/utilisateurs');
      const page = await call('POST', '/region/utilisateurs', { nom: 'Nadia Benali', email: 'nadia@region.example', role: 'technician' });
      expect(page).toMatch(/value="https:\/\/pass\.example\.fr\/invitation\/[A-Za-z0-9_-]{43}"/);
    } finally {
      await proxied.close();
    }
  });

  it('a login goes back to the page asked for, but never to another site', async () => {
    const c = new Client();
    expect((await c.login(users.manager!, '/partenaire/P-LIB-LYON/ventes')).location).toBe('/partenaire/P-LIB-LYON/ventes');
    for (const suite of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
      const d = new Client();
      expect((await d.login(users.manager!, suite)).location, suite).toBe('/partenaire/P-LIB-LYON');
    }
  });

  it('an unknown address and a wrong password get the same answer; the account is not named', async () => {
    const a = new Client();
    await a.get('/connexion');
    const unknown = await a.post('/connexion', { email: 'nobody@example.fr', password: 'whatever-password' });
    const b = new Client();
    await b.get('/connexion');
    const wrong = await b.post('/connexion', { email: users.accountant!.email, password: 'whatever-password' });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    const alert = (t: string) => /<div class="flash error" role="alert">([^<]*)<\/div>/.exec(t)?.[1];
    expect(alert(unknown.text)).toBe(alert(wrong.text));
    expect(alert(wrong.text)).toBe('Adresse e-mail ou mot de passe incorrect');
    // A password too long to be anyone's takes the same path for a real address as for an unknown one.
    const c = new Client();
    await c.get('/connexion');
    const started = performance.now();
    const long = await c.post('/connexion', { email: users.accountant!.email, password: 'x'.repeat(300) });
    expect(long.status).toBe(401);
    expect(performance.now() - started).toBeGreaterThan(20);
    // A `suite` given twice is no address at all.
    const d = new Client();
    await d.get('/connexion');
    const twice = await fetch(`${world.gateway.httpUrl}/connexion`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: d.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${encodeURIComponent(d.csrf)}&email=${encodeURIComponent(users.accountant!.email)}&password=${encodeURIComponent(users.accountant!.password)}&suite=%2Fregion&suite=%2Fcompte`,
    });
    expect(twice.headers.get('location')).toBe('/partenaire/P-LIB-LYON');
  });

  it('logout ends every copy of the session', async () => {
    const c = new Client();
    await c.login(users.manager!);
    expect((await c.get('/partenaire/P-LIB-LYON')).status).toBe(200);
    const copy = new Client();
    copy.cookie = c.cookie;
    await c.get('/partenaire/P-LIB-LYON');
    expect((await c.post('/deconnexion')).location).toBe('/connexion');
    const after = await copy.get('/partenaire/P-LIB-LYON');
    expect(after.status).toBe(303);
    expect(after.location).toBe('/connexion?suite=%2Fpartenaire%2FP-LIB-LYON');
  });

  it('a session ends after 30 minutes without a page, and 8 hours after login whatever the activity', async () => {
    const idle = new Client();
    await idle.login(users.accountant!);
    skew += 29 * 60_000;
    expect((await idle.get('/partenaire/P-LIB-LYON')).status).toBe(200);
    skew += 31 * 60_000;
    expect((await idle.get('/partenaire/P-LIB-LYON')).status).toBe(303);

    const busy = new Client();
    await busy.login(users.accountant!);
    // A page every 25 minutes: still in after 19 × 25 min = 7 h 55, out at 8 h 20 (the absolute limit is 8 h).
    for (let i = 0; i < 19; i++) {
      skew += 25 * 60_000;
      expect((await busy.get('/partenaire/P-LIB-LYON')).status).toBe(200);
    }
    skew += 25 * 60_000;
    expect((await busy.get('/partenaire/P-LIB-LYON')).status).toBe(303);
  });

  it("a disabled account's sessions end at once and it cannot log in again", async () => {
    const cashier = new Client();
    await cashier.login(users.cashier!);
    expect((await cashier.get('/partenaire/P-LIB-LYON/encaisser')).status).toBe(200);
    const manager = new Client();
    await manager.login(users.manager!);
    const page = await manager.get('/partenaire/P-LIB-LYON/utilisateurs');
    const id = (await world.gateway.ledger.webUserByEmail(users.cashier!.email))!.id;
    expect(page.text).toContain(`/partenaire/P-LIB-LYON/utilisateurs/${id}/desactiver`);
    // A manager of another partner cannot touch this one's staff.
    const other = new Client();
    await other.login(users.cinemaManager!);
    await other.get('/partenaire/P-CIN-VBN/utilisateurs');
    expect((await other.post(`/partenaire/P-CIN-VBN/utilisateurs/${id}/desactiver`)).status).toBe(404);
    expect((await manager.post(`/partenaire/P-LIB-LYON/utilisateurs/${id}/desactiver`)).status).toBe(303);
    expect((await cashier.get('/partenaire/P-LIB-LYON/encaisser')).status).toBe(303);
    expect((await new Client().login(users.cashier!)).status).toBe(401);
  });

  it('a new password ends the other sessions and keeps this one; a wrong current password changes nothing', async () => {
    const who = users.technician!;
    const here = new Client();
    await here.login(who);
    const elsewhere = new Client();
    await elsewhere.login(who);
    await here.get('/compte');
    expect((await here.post('/compte/mot-de-passe', { actuel: 'not-my-password', nouveau: 'une phrase toute neuve', confirmation: 'une phrase toute neuve' })).status).toBe(401);
    await here.get('/compte');
    expect((await here.post('/compte/mot-de-passe', { actuel: who.password, nouveau: 'court', confirmation: 'court' })).status).toBe(422);
    expect((await elsewhere.get('/region')).status).toBe(200);
    await here.get('/compte');
    expect((await here.post('/compte/mot-de-passe', { actuel: who.password, nouveau: 'une phrase toute neuve', confirmation: 'une phrase toute neuve' })).location).toBe('/compte');
    expect((await here.get('/region')).status).toBe(200);
    expect((await elsewhere.get('/region')).status).toBe(303);
    expect((await new Client().login(who)).status).toBe(401);
    expect((await new Client().login({ ...who, password: 'une phrase toute neuve' })).location).toBe('/region');
  });

  it('a forgotten password: the manager makes a new link; the old password works until it is used', async () => {
    const manager = new Client();
    await manager.login(users.manager!);
    const id = (await world.gateway.ledger.webUserByEmail(users.accountant!.email))!.id;
    await manager.get('/partenaire/P-LIB-LYON/utilisateurs');
    const page = await manager.post(`/partenaire/P-LIB-LYON/utilisateurs/${id}/lien`);
    expect(page.status).toBe(201);
    const link = /value="(http[^"]+\/invitation\/[A-Za-z0-9_-]{43})"/.exec(page.text)![1]!;
    expect((await new Client().login(users.accountant!)).status).toBe(303);
    const invitee = new Client();
    const path = new URL(link).pathname;
    await invitee.get(path);
    expect((await invitee.post(path, { password: 'nouvelle phrase secrète', confirm: 'nouvelle phrase secrète' })).location).toBe('/partenaire/P-LIB-LYON');
    expect((await new Client().login(users.accountant!)).status).toBe(401);
    // Another partner's manager cannot make a link for this account.
    const other = new Client();
    await other.login(users.cinemaManager!);
    await other.get('/partenaire/P-CIN-VBN/utilisateurs');
    expect((await other.post(`/partenaire/P-CIN-VBN/utilisateurs/${id}/lien`)).status).toBe(404);
  });

  it('hostile forms get a page with a clear refusal, and change nothing', async () => {
    const c = new Client();
    await c.login(users.manager!);
    await c.get('/partenaire/P-LIB-LYON/encaisser');
    const sales = async () => (await world.gateway.ledger.partnerSales({ partnerId: 'P-LIB-LYON', limit: 1000 })).length;
    const before = await sales();
    // Too large: refused before it is read.
    const big = await c.request('POST', '/partenaire/P-LIB-LYON/encaisser', undefined, { body: `_csrf=${c.csrf}&carte=${'9'.repeat(20_000)}`, type: 'application/x-www-form-urlencoded' });
    expect(big.status).toBe(413);
    // Not a form: pages take no JSON.
    const json = await c.request('POST', '/partenaire/P-LIB-LYON/encaisser', undefined, { body: '{"carte":"1"}', type: 'application/json' });
    expect(json.status).toBe(415);
    // A query field given twice.
    expect((await c.get('/partenaire/P-LIB-LYON/ventes?etat=valid&etat=cancelled')).status).toBe(422);
    // A bad card number, a bad amount, a code of 3 digits, a benefit the bookshop may not debit.
    await c.get('/partenaire/P-LIB-LYON/encaisser');
    const txn = /name="txn" value="([^"]+)"/.exec((await c.get('/partenaire/P-LIB-LYON/encaisser')).text)![1]!;
    for (const [form, text] of [
      [{ carte: '8250123456789016', avantage: 'LEISURE_BOOKS', montant: '5', code: '1234' }, 'Numéro de carte invalide'],
      [{ carte: '8250123456789015', avantage: 'LEISURE_BOOKS', montant: '5,555', code: '1234' }, 'Montant invalide'],
      [{ carte: '8250123456789015', avantage: 'LEISURE_BOOKS', montant: '5', code: '123' }, 'Le code secret du jeune compte 4 chiffres'],
      [{ carte: '8250123456789015', avantage: 'CINEMA', montant: '1', code: '1234' }, 'Avantage non autorisé'],
      [{ carte: '8250123456789015', avantage: 'LEISURE_BOOKS', montant: '5', code: '1234', txn: 'not-an-id' }, 'Données refusées'],
    ] as const) {
      const r = await c.post('/partenaire/P-LIB-LYON/encaisser', { txn, ...form });
      expect(r.status, JSON.stringify(form)).toBe(422);
      expect(r.text, JSON.stringify(form)).toContain(text);
    }
    // A bad filter on the sales list.
    expect((await c.get('/partenaire/P-LIB-LYON/ventes?du=2026-13-40')).status).toBe(422);
    expect((await c.get('/partenaire/P-LIB-LYON/ventes.csv?etat=%3Cscript%3E')).status).toBe(422);
    expect(await sales()).toBe(before);
  });
});
