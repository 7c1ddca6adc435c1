import { readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../common/mqtt.ts';
import { tlsWanted } from '../../gateway/tls.ts';
import { makeConnectToken } from '../../protocol/connect-token.ts';
import { fromB64url, nodeSigner } from '../../protocol/crypto.ts';
import { freshClaims } from '../helpers/raw-terminal.ts';
import { holder, World } from '../helpers/world.ts';

/**
 * "MQTT is clear text": connect tokens and requests crossed the network readable by anyone on the path.
 * Outside loopback the broker now speaks only TLS, with the gateway's own certificate, which terminals pin
 * (given at enrolment and in gateway-public.json). Here the broker is forced to TLS on loopback.
 */

const world = new World();
const T = 'T-LIB-LYON-01';
const signer = () => nodeSigner(fromB64url(world.key(T).seed, 32, 'seed'));

beforeAll(async () => {
  await world.startGateway({}, { mqtt: { tls: { mode: 'on' } } });
});
afterAll(() => world.close());

/** A TCP relay to the broker that keeps every byte the client sends. */
async function sniffer(target: number): Promise<{ port: number; seen: Buffer[]; server: Server }> {
  const seen: Buffer[] = [];
  const server = createServer((client: Socket) => {
    const upstream = tcpConnect({ host: '127.0.0.1', port: target });
    client.on('data', (d: Buffer) => seen.push(Buffer.from(d)));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, seen, server };
}

describe('MQTT over TLS with a pinned certificate', () => {
  it('the broker speaks mqtts, and gives terminals its certificate to pin', async () => {
    expect(world.gateway.mqttUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:/);
    const pub = JSON.parse(readFileSync(join(world.dir, 'gateway-public.json'), 'utf8')) as { mqttCertPem?: string };
    expect(pub.mqttCertPem).toBe(world.gateway.mqttCertPem);
    expect(pub.mqttCertPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('a terminal that pins it sells; nothing it sends is readable on the wire', async () => {
    const relay = await sniffer(world.gateway.mqttPort);
    const token = makeConnectToken(T, signer(), freshClaims(T));
    const client = await connectMqttAsync(`mqtts://127.0.0.1:${relay.port}`, { clientId: T, username: T, password: token }, { certPem: world.gateway.mqttCertPem! });
    await client.endAsync(true);
    const wire = Buffer.concat(relay.seen).toString('latin1');
    expect(wire.length).toBeGreaterThan(100);
    expect(wire).not.toContain(token.split('.').at(-1)!);
    expect(wire).not.toContain(T);
    relay.server.close();
    // The whole terminal, end to end, over TLS.
    const t = await world.terminal('T-JUDO-GRE-01');
    expect(await t.sellWithCard(holder('Inès Petit'), 'SPORT', 500)).toMatchObject({ kind: 'approved' });
  });

  it('plain MQTT on the TLS port gets no answer; a broker showing another certificate is refused before the token is sent', async () => {
    const token = () => makeConnectToken(T, signer(), freshClaims(T));
    await expect(connectMqttAsync(`mqtt://127.0.0.1:${world.gateway.mqttPort}`, { clientId: T, username: T, password: token(), connectTimeout: 1500 })).rejects.toThrow();
    const other = readFileSync(new URL('../fixtures/other-broker-cert.pem', import.meta.url), 'utf8');
    // Contacts are written every 250 ms: let the earlier connections land first.
    await new Promise((r) => setTimeout(r, 300));
    const last = await world.gateway.ledger.lastConnectTokenMs(T);
    await expect(connectMqttAsync(world.gateway.mqttUrl, { clientId: T, username: T, password: token(), connectTimeout: 1500 }, { certPem: other })).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    // The gateway never saw that token.
    expect(await world.gateway.ledger.lastConnectTokenMs(T)).toBe(last);
    // And a terminal given no certificate does not even try an mqtts:// URL.
    await expect(connectMqttAsync(world.gateway.mqttUrl, { clientId: T, username: T, password: token() })).rejects.toThrow(/certificate to pin/);
  });
});

describe('where TLS is the default', () => {
  it('auto: TLS unless the broker listens on loopback; on and off as said', () => {
    expect(tlsWanted('auto', '127.0.0.1')).toBe(false);
    expect(tlsWanted('auto', 'localhost')).toBe(false);
    expect(tlsWanted('auto', '::1')).toBe(false);
    for (const host of ['0.0.0.0', '10.1.2.3', '::', 'gateway.region.example']) expect(tlsWanted('auto', host), host).toBe(true);
    expect(tlsWanted('on', '127.0.0.1')).toBe(true);
    expect(tlsWanted('off', '0.0.0.0')).toBe(false);
  });
});
