import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from '../common/log.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, POLICY_TOPIC } from '../protocol/offline.ts';
import { parseTerminalTopic } from '../protocol/topics.ts';

const PUSHED_TOPICS = [POLICY_TOPIC, HOTLIST_TOPIC, HOTLIST_FULL_TOPIC];

/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1) and the gateway's link to it.
 *
 * The gateway does not connect to its own broker over TCP: it subscribes and publishes in-process, which
 * saves a parse, a serialisation and a socket hop per message. At region scale the same `BrokerLink`
 * interface is implemented over an MQTT client to an external broker cluster.
 *
 * Every socket gets TCP_NODELAY: a request/reply protocol of small packets otherwise waits on Nagle's
 * algorithm and delayed ACKs, ~40 ms per round trip.
 */

export interface BrokerLink {
  /** Deliver every message matching `filter` to `handler`. */
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
  /**
   * Publish a reply at QoS 0. Terminals use clean sessions and resend every unanswered request with its id
   * until a reply arrives, and the gateway answers a repeat with the original reply: that, not the MQTT
   * QoS, is the delivery guarantee. QoS 1 on a clean session adds a stored in-flight copy and a PUBACK per
   * reply and still loses the reply if the connection drops, so it would cost without protecting anything.
   */
  publish(topic: string, payload: Buffer): void;
  /** Publish a document every terminal receives on subscribing (offline policy, hotlist): QoS 1, retained. */
  publishRetained(topic: string, payload: Buffer): void;
}

export interface EmbeddedBroker {
  readonly link: BrokerLink;
  readonly host: string;
  readonly port: number;
  connectedClients(): number;
  /** Drop a terminal's connection now (its key was replaced, or it was switched off). */
  disconnect(clientId: string): void;
  close(): Promise<void>;
}

export interface BrokerOptions {
  readonly host: string;
  readonly port: number;
  /** Decide whether `clientId` may connect with these credentials (a terminal id and its connect token). */
  readonly authenticate: (clientId: string, username: string | undefined, password: Buffer | undefined) => boolean;
  readonly log: Logger;
}

/** A terminal may publish only on its own request topic and subscribe only to its own reply topic. */
export function mayPublish(clientId: string, topic: string): boolean {
  const t = parseTerminalTopic(topic);
  return t !== null && t.kind === 'request' && t.terminalId === clientId;
}

/** ...and read the documents the gateway pushes to every terminal (read-only: nobody else may publish them). */
export function maySubscribe(clientId: string, filter: string): boolean {
  if (PUSHED_TOPICS.includes(filter)) return true;
  const t = parseTerminalTopic(filter);
  return t !== null && t.kind === 'reply' && t.terminalId === clientId;
}

function authError(): AuthenticateError {
  const e = new Error('bad terminal credentials') as AuthenticateError;
  e.returnCode = 4; // BAD_USERNAME_OR_PASSWORD
  return e;
}

export async function startEmbeddedBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const log = opts.log;
  const aedes = await Aedes.createBroker({
    maxClientsIdLength: 64,
    authenticate: (client: Client, username, password, done) => {
      const ok = opts.authenticate(client.id, username, password);
      if (!ok) log.warn({ clientId: client.id }, 'terminal refused by the broker: bad credentials');
      done(ok ? null : authError(), ok);
    },
    authorizePublish: (client: Client | null, packet: PublishPacket, done) => {
      // MQTT 3.1.1 has no negative PUBACK: a terminal publishing where it may not is disconnected.
      if (client && !mayPublish(client.id, packet.topic)) {
        log.warn({ clientId: client.id, topic: packet.topic }, 'publish refused: not this terminal’s request topic');
        done(new Error('topic not allowed'));
        return;
      }
      done(null);
    },
    authorizeSubscribe: (client: Client, sub: Subscription, done) => {
      if (!maySubscribe(client.id, sub.topic)) {
        // A null subscription is a SUBACK failure (0x80) with the connection kept.
        log.warn({ clientId: client.id, topic: sub.topic }, 'subscribe refused: not this terminal’s reply topic');
        done(null, null);
        return;
      }
      done(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
    },
  });
  // Connected terminals by id, so the gateway can drop one (aedes keeps its own map, untyped).
  const connected = new Map<string, Client>();
  aedes.on('client', (client) => void connected.set(client.id, client));
  aedes.on('clientDisconnect', (client) => {
    if (connected.get(client.id) === client) connected.delete(client.id);
  });
  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error'));

  const server = createServer({ noDelay: true }, (socket: Socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  let port: number;
  try {
    port = await listen(server, opts.host, opts.port, 'MQTT broker (mqtt.port)');
  } catch (e) {
    // The broker's timers would keep the process alive after a failed start.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw e;
  }

  const link: BrokerLink = {
    subscribe: (filter, handler) =>
      new Promise((resolve) => {
        aedes.subscribe(
          filter,
          (packet: AedesPublishPacket, cb: () => void) => {
            handler(packet.topic, packet.payload as Buffer);
            cb();
          },
          resolve,
        );
      }),
    publish: (topic, payload) => {
      aedes.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, (err) => {
        if (err) log.error({ topic, err: err.message }, 'publish failed');
      });
    },
    publishRetained: (topic, payload) => {
      aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: true, dup: false, messageId: 0 } as AedesPublishPacket, (err) => {
        if (err) log.error({ topic, err: err.message }, 'retained publish failed');
      });
    },
  };

  return {
    link,
    host: opts.host,
    port,
    connectedClients: () => aedes.connectedClients,
    disconnect: (clientId) => {
      const client = connected.get(clientId);
      if (client) {
        log.info({ clientId }, 'terminal disconnected by the gateway');
        client.close();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        aedes.close();
      }),
  };
}

/** Listen, turning a taken port into a clear PORT_IN_USE. Resolves with the bound port. */
export function listen(server: Server, host: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(new PasserelleError('PORT_IN_USE', `${what}: port ${port} on ${host} is already in use by another process; choose another port in the configuration`, { host, port }));
      } else {
        reject(err);
      }
    };
    const onListening = () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
