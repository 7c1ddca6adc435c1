import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../common/mqtt.ts';
import { makeConnectToken } from '../../protocol/connect-token.ts';
import { fromB64url, nodeSigner } from '../../protocol/crypto.ts';
import { requestTopic } from '../../protocol/topics.ts';
import { fixedHeader } from '../helpers/mqtt-bytes.ts';
import { freshClaims, RawTerminal } from '../helpers/raw-terminal.ts';
import { World } from '../helpers/world.ts';

/**
 * The broker's doors, attacked from loopback: CONNECT packets that declare 250 MB, connect tokens reused
 * from a second socket, bad connects in a loop, sockets that never say who they are.
 */

const world = new World();
beforeAll(async () => {
  await world.startGateway({}, { mqtt: { connectTimeoutS: 1, maxPendingConnectsPerAddress: 20, failedConnects: { points: 10, durationS: 60, blockS: 2 } } });
});
afterAll(() => world.close());

const T = 'T-LIB-LYON-01';
const port = () => world.gateway.mqttPort;

function openSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port: port() }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Write `total` bytes after `head` in 64 KiB chunks until the peer closes; how many were written. */
async function pushUntilClosed(s: Socket, head: Buffer, total: number): Promise<{ written: number; closedByPeer: boolean }> {
  let closed = false;
  s.on('close', () => (closed = true));
  s.on('error', () => (closed = true));
  s.write(head);
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  let written = 0;
  while (written < total && !closed) {
    if (!s.write(chunk)) await new Promise<void>((r) => { s.once('drain', r); s.once('close', r); });
    written += chunk.length;
    if (written % (1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 100));
  s.destroy();
  return { written, closedByPeer: closed };
}

/** A CONNECT fixed header declaring `length` bytes. */
const hugeConnect = (length: number) => fixedHeader(1, length);

/** Rejects on a refused CONNECT and on a socket closed before any answer (a throttled address). */
const connectWith = (password: string, clientId = T) =>
  connectMqttAsync(`mqtt://127.0.0.1:${port()}`, { clientId, username: clientId, password, connectTimeout: 2000 });

describe('memory is bounded before authentication', () => {
  it('three sockets declaring 250 MB CONNECTs are cut off at once, and the gateway keeps its memory', async () => {
    const before = process.memoryUsage().rss;
    const results = await Promise.all([0, 1, 2].map(async () => pushUntilClosed(await openSocket(), hugeConnect(250 * 1024 * 1024), 40 * 1024 * 1024)));
    for (const r of results) expect(r.closedByPeer).toBe(true);
    const grownMb = (process.memoryUsage().rss - before) / 1024 / 1024;
    expect(grownMb).toBeLessThan(40);
  });

  it('an authenticated terminal publishing a 1 MB packet is disconnected and nothing reaches the gateway', async () => {
    const raw = await RawTerminal.connect(world.gateway.mqttUrl, T, world.key(T).seed, world.gateway.keys.signPublicKey);
    const closed = new Promise<void>((r) => raw.client.once('close', () => r()));
    const received = world.gateway.pipeline.stats.received;
    raw.client.publish(requestTopic(T), Buffer.alloc(1024 * 1024, 0x41), { qos: 0 });
    await closed;
    raw.client.end(true);
    expect(world.gateway.pipeline.stats.received).toBe(received);
  });

  it('sockets that never send a CONNECT are capped per address and closed after the connect timeout', async () => {
    const sockets = await Promise.all(Array.from({ length: 40 }, () => openSocket()));
    const closedAt = sockets.map(() => 0);
    const t0 = Date.now();
    sockets.forEach((s, i) => s.on('close', () => (closedAt[i] = Date.now() - t0)));
    await new Promise((r) => setTimeout(r, 300));
    // Beyond the 20 allowed per address, closed at once.
    expect(closedAt.filter((t) => t > 0).length).toBeGreaterThanOrEqual(20);
    await new Promise((r) => setTimeout(r, 1500));
    // The rest at the connect timeout (1 s here).
    expect(closedAt.every((t) => t > 0)).toBe(true);
  });
});

describe('connect tokens are used once', () => {
  it('a token replayed from a second socket is refused, and the terminal that used it stays connected', async () => {
    const signer = nodeSigner(fromB64url(world.key(T).seed, 32, 'seed'));
    const token = makeConnectToken(T, signer, freshClaims(T));
    const first = await connectWith(token);
    let kicked = false;
    first.on('close', () => (kicked = true));
    await expect(connectWith(token)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 200));
    expect(kicked).toBe(false);
    await first.endAsync(true);
    // Not even once the first connection is gone.
    await expect(connectWith(token)).rejects.toThrow();
  });
});

describe('failed connects are throttled per address', () => {
  it('after repeated bad connects the address is refused for a while, even with a good token, then let in again', async () => {
    const signer = nodeSigner(fromB64url(world.key(T).seed, 32, 'seed'));
    const forger = nodeSigner(new Uint8Array(32).fill(1));
    for (let i = 0; i < 12; i++) await expect(connectWith(makeConnectToken(T, forger, freshClaims(T)))).rejects.toThrow();
    await expect(connectWith(makeConnectToken(T, signer, freshClaims(T)))).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 2200));
    const ok = await connectWith(makeConnectToken(T, signer, freshClaims(T)));
    await ok.endAsync(true);
  });
});
