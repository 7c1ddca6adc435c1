import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { replyTopic } from '../protocol/topics.ts';
import { startEmbeddedBroker, type BrokerLimits, type EmbeddedBroker } from './broker.ts';

const LIMITS: BrokerLimits = {
  maxConnectBytes: 1024,
  maxPacketBytes: 20 * 1024,
  connectTimeoutS: 5,
  drainTimeoutS: 1,
  maxConnections: 100,
  maxPendingConnectsPerAddress: 10,
  failedConnects: { points: 10, durationS: 60, blockS: 1 },
};

let broker: EmbeddedBroker | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await broker?.close();
  broker = undefined;
});

/** A terminal that connects, subscribes to its replies, reads the SUBACK, then never reads again. */
async function frozenReader(port: number, terminalId: string): Promise<void> {
  const s = tcpConnect({ host: '127.0.0.1', port });
  sockets.push(s);
  s.on('error', () => {});
  s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: terminalId, username: terminalId, password: Buffer.from('x') }));
  s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: replyTopic(terminalId), qos: 0 }] }));
  let seen = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SUBACK')), 5000);
    s.on('data', (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      // CONNACK is 4 bytes, SUBACK 5: both in.
      if (seen.length >= 9) {
        clearTimeout(timer);
        s.pause();
        s.removeAllListeners('data');
        resolve();
      }
    });
  });
}

/**
 * A broker whose 100 delivery slots are held by a terminal that stopped reading (replies it never reads
 * fill its socket, then each further one holds a slot until the socket drains or is cut), with the
 * gateway's subscription counting what reaches it on `probe/#`.
 */
async function brokerWithSlotsHeld(terminalId: string): Promise<{ b: EmbeddedBroker; received: () => number }> {
  const b = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, authenticate: async () => 'ok', limits: LIMITS, log: silentLogger });
  broker = b;
  let received = 0;
  await b.link.subscribe('probe/#', () => received++);
  await frozenReader(b.port, terminalId);
  const big = Buffer.alloc(128 * 1024, 0x41);
  for (let i = 0; i < 300; i++) b.link.publish(replyTopic(terminalId), big);
  return { b, received: () => received };
}

const until = async (done: () => boolean) => {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
};

describe('embedded broker under a frozen reader', () => {
  it('cuts a terminal that stops reading, then delivers a burst queued meanwhile without overflowing the stack', async () => {
    const { b, received } = await brokerWithSlotsHeld('T-FROZEN-01');
    // Meanwhile a burst for the gateway itself queues behind those slots. Released one by one through
    // synchronous callbacks, 20,000 of them used to recurse until "Maximum call stack size exceeded".
    const burst = 20_000;
    for (let i = 0; i < burst; i++) b.link.publish('probe/x', Buffer.from([i & 0xff]));
    // Cut after drainTimeoutS (1 s here; aedes alone would wait 60 s), then the queue drains.
    await until(() => received() >= burst && b.connectedClients() === 0);
    expect(received()).toBe(burst);
    expect(b.connectedClients()).toBe(0);
  });

  it('drains a burst queued for topics nobody follows (replies to terminals gone) without overflowing the stack', async () => {
    const { b, received } = await brokerWithSlotsHeld('T-FROZEN-02');
    // Replies to terminals that disconnected: no subscriber, so each is released at once, synchronously,
    // and a queue of them used to recurse through mqemitter until the stack overflowed (a gateway crash
    // seen at the end of the online-debit bench, when the load generator's terminals left).
    for (let i = 0; i < 20_000; i++) b.link.publish(replyTopic(`T-GONE-${i % 100}`), Buffer.from([i & 0xff]));
    b.link.publish('probe/last', Buffer.from([1]));
    await until(() => received() >= 1);
    expect(received()).toBe(1);
  });
});
