import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCard } from '../gateway/demo-data.ts';
import { createApiToken } from '../gateway/api/tokens.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { World } from './helpers/world.ts';

/**
 * The admin API over a real socket: the whole gateway started as in production (demo data, HTTP on
 * 127.0.0.1 with a free port), called with fetch. The API's behaviour is tested through inject() in
 * gateway/api; this checks the wiring: the gateway hands the app its ledger, clock and Region account.
 */

const world = new World();
beforeAll(() => world.startGateway());
afterAll(() => world.close());

describe('admin API over HTTP', () => {
  it('answers health publicly, refuses without a token, serves an operator and a partner, streams a load file', async () => {
    const base = world.gateway.httpUrl;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ledger = world.gateway.ledger;
    const operator = await createApiToken(ledger, { name: 'Région', role: 'operator' }, Date.now());
    const partner = await createApiToken(ledger, { name: 'Librairie', role: 'partner', partnerId: 'P-LIB-LYON' }, Date.now());
    const get = (path: string, token?: string) => fetch(base + path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

    expect((await get('/healthz')).status).toBe(200);
    const anonymous = await get('/api/v1/partners/P-LIB-LYON');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(await anonymous.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED', num: 501, fr: 'Authentification requise' } });

    expect(await (await get('/api/v1/partners/P-LIB-LYON', operator)).json()).toMatchObject({ id: 'P-LIB-LYON', iban: expect.stringMatching(/^FR76/) });
    const lea = demoCard('Léa Martin').number;
    const card = await get(`/api/v1/cards/${lea}`, operator);
    const cardText = await card.text();
    expect(card.status).toBe(200);
    expect(cardText).not.toContain(lea);
    expect(JSON.parse(cardText)).toMatchObject({ holder: 'Léa Martin', status: 'active' });
    expect((await get('/api/v1/terminals/T-LIB-LYON-01', partner)).status).toBe(200);
    expect((await get(`/api/v1/cards/${lea}`, partner)).status).toBe(403);

    // The load file goes up as a chunked stream, as a browser or curl -T sends a large file.
    const campaign = (await (await get('/api/v1/campaigns', operator)).json()) as { campaigns: { id: string }[] };
    const rows = ['card_number;dossier_id;holder;campaign;SPORT', `${cardNumberFrom('400000000000001')};DOS-E2E-1;Jeune Un;${campaign.campaigns[0]!.id};3000`];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const line of rows) controller.enqueue(new TextEncoder().encode(`${line}\n`));
        controller.close();
      },
    });
    const upload = await fetch(`${base}/api/v1/bulk-loads`, { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'text/csv' }, body, duplex: 'half' } as RequestInit);
    expect(upload.status).toBe(201);
    expect(await upload.json()).toEqual({ cards: 1, loads: 1 });

    const docs = (await (await get('/docs/json')).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(docs.openapi).toMatch(/^3\.1/);
    expect(Object.keys(docs.paths)).toContain('/api/v1/bulk-loads');
  });
});
