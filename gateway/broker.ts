import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Logger } from '../common/log.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, POLICY_TOPIC } from '../protocol/offline.ts';
import { parseTerminalTopic } from '../protocol/topics.ts';
import { boundedEmitter } from './mq.ts';
import { GuardedSocket, type PacketLimits } from './mqtt-guard.ts';

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

/** The broker's limits, each enforced before the work it protects (gateway config `mqtt`). */
export interface BrokerLimits extends PacketLimits {
  /** A socket must send its CONNECT within this time. */
  readonly connectTimeoutS: number;
  /** A socket whose peer stops reading is cut after this time. */
  readonly drainTimeoutS: number;
  /** Open sockets in all; beyond, new ones are closed at once. */
  readonly maxConnections: number;
  /** Sockets from one address that have not yet authenticated. */
  readonly maxPendingConnectsPerAddress: number;
  /** Failed connects per address: `points` in `durationS` seconds, then the address is refused for `blockS`. */
  readonly failedConnects: { readonly points: number; readonly durationS: number; readonly blockS: number };
}

export interface BrokerOptions {
  readonly host: string;
  readonly port: number;
  /** Decide whether `clientId` may connect with these credentials (a terminal id and its connect token). */
  readonly authenticate: (clientId: string, username: string | undefined, password: Buffer | undefined) => Promise<ConnectVerdict>;
  readonly limits: BrokerLimits;
  /** MQTT over TLS with this certificate and key (gateway/tls.ts); plain TCP when absent. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  readonly log: Logger;
}

/** A terminal may publish only on its own request and status topics and subscribe only to its own reply topic. */
export function mayPublish(clientId: string, topic: string): boolean {
  const t = parseTerminalTopic(topic);
  return t !== null && (t.kind === 'request' || t.kind === 'status') && t.terminalId === clientId;
}

/** ...and read the documents the gateway pushes to every terminal, and its own settings (read-only: nobody else may publish them). */
export function maySubscribe(clientId: string, filter: string): boolean {
  if (PUSHED_TOPICS.includes(filter)) return true;
  const t = parseTerminalTopic(filter);
  return t !== null && (t.kind === 'reply' || t.kind === 'settings') && t.terminalId === clientId;
}

/**
 * A connect is admitted, or refused for one of two reasons the terminal's technician must tell apart:
 * `not-authorized`, no active terminal has this id (CONNACK 5: ask the Region); `bad-credentials`, the
 * terminal exists but its connect token does not pass (CONNACK 4: most often its clock, see
 * protocol/connect-token.ts). Terminal ids are printed on the devices and are no secret, so saying which
 * costs nothing; failed connects of either kind count against the address.
 */
export type ConnectVerdict = 'ok' | 'bad-credentials' | 'not-authorized';

/** 'server-unavailable': the terminal could not be checked (the ledger fails); CONNACK 3, it retries. */
function authError(verdict: Exclude<ConnectVerdict, 'ok'> | 'server-unavailable'): AuthenticateError {
  const [message, code] =
    verdict === 'not-authorized' ? ['terminal not registered or deactivated', 5] : verdict === 'server-unavailable' ? ['terminal could not be checked now', 3] : ['bad terminal credentials', 4];
  const e = new Error(message) as AuthenticateError;
  e.returnCode = code; // NOT_AUTHORIZED, SERVER_UNAVAILABLE or BAD_USERNAME_OR_PASSWORD
  return e;
}

export async function startEmbeddedBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const log = opts.log;
  const limits = opts.limits;
  const doors = new Doors(limits, log);
  const aedes = await Aedes.createBroker({
    // aedes's own bus (100 deliveries at once), with its recursion bounded (gateway/mq.ts).
    mq: boundedEmitter(100),
    maxClientsIdLength: 64,
    connectTimeout: limits.connectTimeoutS * 1000,
    // A terminal that stops reading holds one of the broker's delivery slots (100 in all) until its socket
    // drains; past this it is cut, so a frozen or hostile reader cannot stall delivery to the others.
    drainTimeout: limits.drainTimeoutS * 1000,
    authenticate: (client: Client, username, password, done) => {
      opts.authenticate(client.id, username, password).then(
        (verdict) => settle(verdict),
        (err: unknown) => {
          log.error({ err, clientId: client.id }, 'terminal could not be checked (ledger unavailable)');
          done(authError('server-unavailable'), false);
        },
      );
      const settle = (verdict: ConnectVerdict) => {
      const conn = client.conn instanceof GuardedSocket ? client.conn : undefined;
      if (verdict === 'ok') {
        if (conn) doors.authenticated(conn);
        done(null, true);
        return;
      }
      log.warn({ clientId: client.id, address: conn?.remoteAddress, verdict }, 'terminal refused by the broker');
      if (conn) doors.failed(conn.remoteAddress);
      done(authError(verdict), false);
      };
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

  const handle = (socket: Socket) => void doors.admit(socket).then((conn) => conn && aedes.handle(conn));
  const server = opts.tls
    ? createTlsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2', handshakeTimeout: limits.connectTimeoutS * 1000 }, handle)
    : createServer({ noDelay: true }, handle);
  // Before any byte is read (and, over TLS, before the handshake is paid for): an address refused for its
  // failed connects is dropped at once; Node closes sockets beyond maxConnections itself.
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    if (doors.blocked(socket.remoteAddress ?? 'unknown')) socket.destroy();
  });
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
  server.maxConnections = limits.maxConnections;
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
            // Released at once: the bus bounds its own recursion when a queue drains (gateway/mq.ts).
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

/**
 * The broker's doors, before aedes sees a byte: an address that failed to authenticate too often is
 * refused for a while (a flood of bad connects costs a signature check each), an address may hold only so
 * many sockets that have not authenticated yet, and every socket is wrapped in the packet size guard.
 */
class Doors {
  readonly #limits: BrokerLimits;
  readonly #log: Logger;
  readonly #failures: RateLimiterMemory;
  readonly #pending = new Map<string, number>();
  readonly #unauthenticated = new WeakSet<GuardedSocket>();
  /** Addresses refused for their failed connects, until their block ends (read synchronously at accept). */
  readonly #blocked = new Map<string, number>();

  constructor(limits: BrokerLimits, log: Logger) {
    this.#limits = limits;
    this.#log = log;
    const f = limits.failedConnects;
    this.#failures = new RateLimiterMemory({ keyPrefix: 'mqtt-connect-failures', points: f.points, duration: f.durationS, blockDuration: f.blockS });
  }

  /** The guarded connection to hand to aedes, or undefined when the socket was refused (and destroyed). */
  async admit(socket: Socket): Promise<GuardedSocket | undefined> {
    const address = socket.remoteAddress ?? 'unknown';
    if (this.blocked(address)) {
      socket.destroy();
      return undefined;
    }
    const pending = this.#pending.get(address) ?? 0;
    if (pending >= this.#limits.maxPendingConnectsPerAddress || socket.destroyed) {
      if (pending >= this.#limits.maxPendingConnectsPerAddress) this.#log.warn({ address, pending }, 'connection refused: too many unauthenticated sockets from this address');
      socket.destroy();
      return undefined;
    }
    this.#pending.set(address, pending + 1);
    const conn = new GuardedSocket(socket, this.#limits, (v) => this.#log.warn({ address, violation: v }, 'connection cut: MQTT packet over its limit or malformed'));
    this.#unauthenticated.add(conn);
    conn.once('close', () => this.#settle(conn));
    return conn;
  }

  authenticated(conn: GuardedSocket): void {
    this.#settle(conn);
  }

  failed(address: string): void {
    this.#failures.consume(address).catch((res: { msBeforeNext?: number }) => {
      this.#blocked.set(address, Date.now() + (res.msBeforeNext ?? this.#limits.failedConnects.blockS * 1000));
      this.#log.warn({ address, blockS: this.#limits.failedConnects.blockS }, 'address refused for a while: too many failed connects');
    });
  }

  blocked(address: string): boolean {
    const until = this.#blocked.get(address);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.#blocked.delete(address);
    return false;
  }

  /** The socket is no longer waiting to authenticate (it did, or it closed). */
  #settle(conn: GuardedSocket): void {
    if (!this.#unauthenticated.delete(conn)) return;
    const n = (this.#pending.get(conn.remoteAddress) ?? 1) - 1;
    if (n <= 0) this.#pending.delete(conn.remoteAddress);
    else this.#pending.set(conn.remoteAddress, n);
  }
}
