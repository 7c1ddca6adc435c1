import type { MqttClient } from 'mqtt';
import { connectMqtt, type MqttTls } from '../common/mqtt.ts';
import type { Logger } from '../common/log.ts';
import { brokerPassword, makeConnectToken, type ConnectClaims, type ConnectTokenStore } from '../protocol/connect-token.ts';
import type { Code } from '../protocol/codes.ts';
import type { Signer } from '../protocol/crypto.ts';
import { HOTLIST_TOPIC, POLICY_TOPIC } from '../protocol/offline.ts';
import { settingsTopic } from '../protocol/terminal-settings.ts';
import { replyTopic, requestTopic, statusTopic } from '../protocol/topics.ts';
import type { Clock } from './bindings.ts';

/**
 * The terminal's MQTT link. One client per connection attempt, reconnecting on its own schedule: capped
 * exponential backoff with jitter, so a thousand terminals that lost the same network do not all come back
 * in the same millisecond. Every attempt signs a fresh connect token (used once; it names the outbox head).
 *
 * Clean sessions: a reply published while the terminal was away is not kept by the broker; the terminal
 * resends its pending requests when the link comes back and the gateway answers each with its original
 * reply. One mechanism for every loss, instead of two that must agree.
 */

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * Delay before reconnection attempt `attempt` (0 for the first retry): "equal jitter", half of the capped
 * exponential delay plus a random part up to the other half, so it never collapses to zero.
 */
export function backoffDelayMs(attempt: number, b: Backoff, random: () => number): number {
  const cap = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/**
 * Why the broker refused the last connect (its MQTT 3.1.1 CONNACK return code), kept until a connect is
 * accepted: a refusal is not silence, and the technician's fix depends on which it is.
 */
export interface LinkRefusal {
  /** LINK_NOT_AUTHORIZED for CONNACK 5 (no active terminal with this id); LINK_REFUSED for any other refusal (4: the connect token). */
  readonly code: Extract<Code, 'LINK_REFUSED' | 'LINK_NOT_AUTHORIZED'>;
  readonly returnCode: number;
  /** The client's wording of the return code, e.g. "Connection refused: Bad username or password". */
  readonly reason: string;
  /** The terminal's clock when it was refused (ms), which a token refused for its time is judged against. */
  readonly at: number;
}

/** The refusal a CONNACK error names, or undefined for any other error (a socket, TLS, a timeout). */
export function refusalOf(err: Error & { code?: unknown }, at: number): LinkRefusal | undefined {
  if (typeof err.code !== 'number' || !err.message.startsWith('Connection refused')) return undefined;
  return { code: err.code === 5 ? 'LINK_NOT_AUTHORIZED' : 'LINK_REFUSED', returnCode: err.code, reason: err.message, at };
}

export interface LinkHandlers {
  /** A message on this terminal's reply topic. */
  reply(payload: Buffer): void;
  /** A document the gateway pushes to every terminal (offline policy, hotlist); `retained` when replayed at subscription. */
  push(topic: string, payload: Buffer, retained: boolean): void;
  up(): void;
  down(): void;
  /** The broker refused the connect, for a reason other than the last refusal's (or after a success). */
  refused(r: LinkRefusal): void;
}

export interface LinkOptions {
  readonly url: string;
  readonly terminalId: string;
  readonly signer: Signer;
  /** Each connect token's claims and what became of it (the outbox: protocol/connect-token.ts). */
  readonly tokens: ConnectTokenStore;
  /** token (default): a connect token per connection; key: the password made from the key (an external broker). */
  readonly auth?: 'token' | 'key';
  /** For an mqtts:// URL: the broker certificate to pin (given at enrolment). */
  readonly tls?: MqttTls;
  readonly clock: Clock;
  readonly backoff: Backoff;
  readonly connectTimeoutMs: number;
  readonly keepaliveS: number;
  readonly random?: () => number;
  readonly log: Logger;
}

export interface Link {
  start(handlers: LinkHandlers): void;
  isUp(): boolean;
  /** Why the broker refused the last connect, until one is accepted. */
  refusal(): LinkRefusal | undefined;
  /** Publish a request at QoS 1; false when the link is down (the outbox keeps it for later). */
  send(frame: Buffer): boolean;
  /** Publish a heartbeat at QoS 0 on the terminal's status topic; false when the link is down (it is not kept). */
  report(frame: Buffer): boolean;
  /** Subscribe to (or leave) an extra pushed topic, now and on every reconnection (the full hotlist, when needed). */
  follow(topic: string, on: boolean): void;
  stop(): Promise<void>;
}

/** Pushed topics every terminal follows from its first connection. */
export const PUSHED_TOPICS: readonly string[] = [POLICY_TOPIC, HOTLIST_TOPIC];

export class MqttLink implements Link {
  readonly #o: LinkOptions;
  readonly #random: () => number;
  #client: MqttClient | undefined;
  #handlers: LinkHandlers | undefined;
  #up = false;
  #refusal: LinkRefusal | undefined;
  #attempt = 0;
  #cancelRetry: (() => void) | undefined;
  #stopped = false;
  readonly #followed = new Set<string>(PUSHED_TOPICS);

  constructor(o: LinkOptions) {
    this.#o = o;
    this.#random = o.random ?? Math.random;
    // Its own settings, pushed retained by the gateway (protocol/terminal-settings.ts).
    this.#followed.add(settingsTopic(o.terminalId));
  }

  start(handlers: LinkHandlers): void {
    this.#handlers = handlers;
    this.#connect();
  }

  isUp(): boolean {
    return this.#up;
  }

  refusal(): LinkRefusal | undefined {
    return this.#refusal;
  }

  report(frame: Buffer): boolean {
    if (!this.#up || !this.#client) return false;
    this.#client.publish(statusTopic(this.#o.terminalId), frame, { qos: 0 });
    return true;
  }

  send(frame: Buffer): boolean {
    if (!this.#up || !this.#client) return false;
    this.#client.publish(requestTopic(this.#o.terminalId), frame, { qos: 1 }, (err) => {
      if (err) this.#o.log.debug({ err: err.message }, 'publish not acknowledged; the outbox resends it');
    });
    return true;
  }

  follow(topic: string, on: boolean): void {
    if (on === this.#followed.has(topic)) return;
    if (on) this.#followed.add(topic);
    else this.#followed.delete(topic);
    const c = this.#client;
    // Once the broker accepted the connection, not only once the link is up: retained documents can be
    // handed over before the first subscription's acknowledgement is (mqtt.js runs its callback later), and
    // a topic they ask for must not wait for the next connection.
    if (!c?.connected) return;
    if (on) c.subscribe(topic, { qos: 1 }, (err) => err && this.#o.log.warn({ err: err.message, topic }, 'could not subscribe'));
    else c.unsubscribe(topic);
  }

  #connect(): void {
    if (this.#stopped) return;
    const o = this.#o;
    const claims = o.tokens.connectClaims(o.clock.now());
    const client = connectMqtt(o.url, {
      clientId: o.terminalId,
      username: o.terminalId,
      password: o.auth === 'key' ? brokerPassword(o.signer) : makeConnectToken(o.terminalId, o.signer, claims),
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      keepalive: o.keepaliveS,
    }, o.tls);
    this.#client = client;
    client.on('connect', () => {
      o.tokens.connectAdmitted(claims.ms);
      const topics = Object.fromEntries([replyTopic(o.terminalId), ...this.#followed].map((t) => [t, { qos: 1 as const }]));
      client.subscribe(topics, (err, granted) => {
        if (err || this.#client !== client || granted?.some((g) => g.qos === 128)) {
          o.log.warn({ err: err?.message }, 'could not subscribe to the reply topic');
          client.end(true);
          return;
        }
        this.#attempt = 0;
        this.#refusal = undefined;
        this.#up = true;
        o.log.info({ url: o.url }, 'link up');
        this.#handlers?.up();
      });
    });
    const reply = replyTopic(o.terminalId);
    client.on('message', (topic, payload, packet) => {
      if (topic === reply) this.#handlers?.reply(payload);
      else this.#handlers?.push(topic, payload, packet.retain);
    });
    client.on('error', (err) => this.#onError(err, claims));
    client.on('close', () => this.#onClose(client));
  }

  #onError(err: Error, claims: ConnectClaims): void {
    const refusal = refusalOf(err, this.#o.clock.now());
    if (!refusal) return void this.#o.log.debug({ err: err.message }, 'link error');
    // Refused in so many words: that token was never admitted, and does not bound the next ones.
    this.#o.tokens.connectRefused(claims.ms);
    const changed = refusal.returnCode !== this.#refusal?.returnCode;
    this.#refusal = refusal;
    if (!changed) return;
    this.#o.log.error({ code: refusal.code, returnCode: refusal.returnCode, reason: refusal.reason }, 'the broker refused this terminal; the link keeps trying');
    this.#handlers?.refused(refusal);
  }

  #onClose(client: MqttClient): void {
    if (this.#client !== client) return;
    client.removeAllListeners();
    client.end(true);
    this.#client = undefined;
    if (this.#up) {
      this.#up = false;
      this.#o.log.warn('link down');
      this.#handlers?.down();
    }
    if (this.#stopped) return;
    const delay = backoffDelayMs(this.#attempt++, this.#o.backoff, this.#random);
    this.#cancelRetry = this.#o.clock.setTimer(delay, () => this.#connect());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelRetry?.();
    const client = this.#client;
    this.#client = undefined;
    this.#up = false;
    if (client) await client.endAsync(true).catch(() => undefined);
  }
}
