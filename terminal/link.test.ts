import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { nodeSigner } from '../protocol/crypto.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC } from '../protocol/offline.ts';
import { systemClock } from './bindings.ts';
import { backoffDelayMs, MqttLink, refusalOf } from './link.ts';

describe('reconnection backoff', () => {
  const b = { baseMs: 250, maxMs: 15_000 };
  it('grows exponentially up to the cap, with jitter within [cap/2, cap]', () => {
    for (const [attempt, cap] of [[0, 250], [1, 500], [3, 2000], [6, 15_000], [40, 15_000]] as const) {
      expect(backoffDelayMs(attempt, b, () => 0)).toBe(cap / 2);
      expect(backoffDelayMs(attempt, b, () => 1)).toBe(cap);
    }
  });
  it('spreads terminals that lost the link together', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const delays = new Set(Array.from({ length: 100 }, () => backoffDelayMs(5, b, random)));
    expect(delays.size).toBeGreaterThan(90);
  });
});

describe('a refused connect', () => {
  const connack = (message: string, code: number) => Object.assign(new Error(message), { code });
  it('is named by its CONNACK return code: 5 is a terminal not admitted, any other refusal is the connect token', () => {
    expect(refusalOf(connack('Connection refused: Not authorized', 5), 7)).toEqual({ code: 'LINK_NOT_AUTHORIZED', returnCode: 5, reason: 'Connection refused: Not authorized', at: 7 });
    expect(refusalOf(connack('Connection refused: Bad username or password', 4), 7)).toMatchObject({ code: 'LINK_REFUSED', returnCode: 4 });
  });
  it('is not any error: a socket or TLS failure is no refusal', () => {
    expect(refusalOf(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1884'), { code: 'ECONNREFUSED' }), 7)).toBeUndefined();
    expect(refusalOf(new Error("the broker's certificate is not the pinned one"), 7)).toBeUndefined();
  });
});

describe('following a topic', () => {
  const sockets: Socket[] = [];
  let server: Server | undefined;
  let link: MqttLink | undefined;
  afterEach(async () => {
    await link?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });

  /**
   * A broker that answers the first SUBSCRIBE with its SUBACK and a retained document in one write, as
   * aedes does under load: mqtt.js hands the document over before the subscription's callback runs.
   */
  async function brokerSendingRetainedWithSuback(subscribed: string[][]): Promise<number> {
    server = createServer((socket) => {
      sockets.push(socket);
      // The link's side may reset the connection when it stops: that is the end of the test, not a fault.
      socket.on('error', () => {});
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (p) => {
        if (p.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
        if (p.cmd !== 'subscribe') return;
        subscribed.push(p.subscriptions.map((s) => s.topic));
        const suback = mqttPacket.generate({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => 1) });
        const retained = mqttPacket.generate({ cmd: 'publish', topic: HOTLIST_TOPIC, payload: Buffer.from('{}'), qos: 0, retain: true, dup: false });
        socket.write(subscribed.length === 1 ? Buffer.concat([suback, retained]) : suback);
      });
      socket.on('data', (d) => parser.parse(d));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server!.address() as AddressInfo).port;
  }

  it('a topic followed while the subscription is still being acknowledged is subscribed at once, not at the next connection', async () => {
    const subscribed: string[][] = [];
    const port = await brokerSendingRetainedWithSuback(subscribed);
    const l = new MqttLink({
      url: `mqtt://127.0.0.1:${port}`,
      terminalId: 'T-LINK-01',
      signer: nodeSigner(randomBytes(32)),
      tokens: { connectClaims: (ms: number) => ({ ms, head: 0 }), connectAdmitted: () => {}, connectRefused: () => {} },
      clock: systemClock,
      backoff: { baseMs: 50, maxMs: 100 },
      connectTimeoutMs: 1000,
      keepaliveS: 30,
      log: silentLogger,
    });
    link = l;
    // As the runtime does with a hotlist delta it cannot apply: it asks for the whole list.
    l.start({ reply: () => {}, up: () => {}, down: () => {}, refused: () => {}, push: (topic) => topic === HOTLIST_TOPIC && l.follow(HOTLIST_FULL_TOPIC, true) });
    const until = Date.now() + 2000;
    while (!subscribed.flat().includes(HOTLIST_FULL_TOPIC) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(subscribed.flat()).toContain(HOTLIST_FULL_TOPIC);
  });
});
