import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { connectMqtt, type MqttTls } from '../common/mqtt.ts';
import type { Logger } from '../common/log.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, POLICY_TOPIC } from '../protocol/offline.ts';
import { settingsTopic } from '../protocol/terminal-settings.ts';
import { REQUEST_FILTER, STATUS_FILTER, TOPIC_ROOT, replyTopic, requestTopic, statusTopic } from '../protocol/topics.ts';
import type { BrokerLink, EmbeddedBroker } from './broker.ts';

/**
 * The gateway as a client of an external broker (Mosquitto 2.0 with its dynamic security plugin), for
 * region scale: several gateways, one broker they all use.
 *
 * - Terminals' requests and heartbeats are split between the gateways of one group by shared subscriptions
 *   (`$share/<group>/…`): each message goes to one gateway. A QoS 1 request a gateway received and did not
 *   answer (it stopped, or Mosquitto lost it as in its issue #2662) is sent again by its terminal, which
 *   resends every unanswered request until a reply comes; the ledger answers a repeat with the original reply.
 * - Terminals log in with the password made from their key (protocol/connect-token.ts brokerPassword). The
 *   gateway manages the broker's accounts through the plugin's control topic: at enrolment a terminal gets
 *   a client (username and client id its terminal id) and a role of its own that lets it publish only on
 *   its request and status topics and subscribe only to its reply and settings topics (Mosquitto 2.0's
 *   plugin has no per-user patterns, so one role each); every terminal also reads the pushed documents. A
 *   terminal switched off is disabled, which cuts its connection at once; a new enrolment replaces client
 *   and role, which cuts the old key's connection.
 * - The gateway's own account must hold the plugin's admin role (`mosquitto_ctrl dynsec init`); at start it
 *   gives itself the role that publishes and subscribes under the protocol's root (deploy/mosquitto/).
 */
export interface ExternalBrokerOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** The shared subscription group of this region's gateways. */
  readonly group: string;
  /** This gateway's client id (unique per gateway). */
  readonly clientId: string;
  readonly tls?: MqttTls;
  readonly log: Logger;
  /** How long a connect or a control command may take (default 10 s). */
  readonly timeoutMs?: number;
}

export interface ExternalBroker extends EmbeddedBroker {
  /** Give the broker a terminal's account: its password and its own topics; replaces any earlier one. */
  provision(terminalId: string, password: string): Promise<void>;
  /** Let a terminal switched back on connect again. */
  allow(terminalId: string): Promise<void>;
}

const CONTROL = '$CONTROL/dynamic-security/v1';
const GATEWAY_ROLE = 'passerelle-gateway';
const TERMINALS_ROLE = 'passerelle-terminals';
const terminalRole = (terminalId: string) => `passerelle-terminal-${terminalId}`;

interface ControlResponse {
  readonly command: string;
  readonly error?: string;
  readonly correlationData?: string;
  readonly data?: { readonly client?: { readonly roles?: readonly { readonly rolename: string }[] } };
}

/** Does `topic` fall under the subscription `filter` (`+` and a trailing `#`)? */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

export async function startExternalBroker(o: ExternalBrokerOptions): Promise<ExternalBroker> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const client: MqttClient = connectMqtt(o.url, { clientId: o.clientId, username: o.username, password: o.password, clean: true, reconnectPeriod: 1000, connectTimeout: timeoutMs, keepalive: 30 }, o.tls);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('no answer')), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      client.end(true);
      reject(new PasserelleError('CONFIG_INVALID', `cannot connect to the MQTT broker ${o.url} as ${o.username}: ${err.message}`));
    };
    client.once('connect', () => {
      clearTimeout(timer);
      client.off('error', fail);
      resolve();
    });
    client.once('error', fail);
  });
  try {
    return await ready(client, o);
  } catch (e) {
    // A broker that let the gateway in but refused the rest: no client left reconnecting behind the error.
    client.end(true);
    throw e;
  }
}

async function ready(client: MqttClient, o: ExternalBrokerOptions): Promise<ExternalBroker> {
  const log = o.log;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const u = new URL(o.url);
  client.on('error', (err) => log.warn({ err: err.message }, 'MQTT broker connection error; reconnecting'));
  client.on('offline', () => log.warn('MQTT broker unreachable; reconnecting'));
  client.on('reconnect', () => log.info('reconnecting to the MQTT broker'));

  const handlers: { filter: string; handler: (topic: string, payload: Buffer) => void }[] = [];
  const waiting = new Map<string, (r: ControlResponse) => void>();
  let connected = 0;
  client.on('message', (topic, payload) => {
    if (topic === `${CONTROL}/response`) {
      let responses: ControlResponse[] = [];
      try {
        responses = (JSON.parse(payload.toString('utf8')) as { responses?: ControlResponse[] }).responses ?? [];
      } catch {
        return;
      }
      for (const r of responses) {
        const settle = r.correlationData ? waiting.get(r.correlationData) : undefined;
        if (settle) settle(r);
      }
      return;
    }
    if (topic === '$SYS/broker/clients/connected') {
      connected = Number(payload.toString('utf8')) || 0;
      return;
    }
    for (const h of handlers) if (topicMatches(h.filter, topic)) h.handler(topic, payload);
  });

  const subscribe = (filter: string, qos: 0 | 1) =>
    new Promise<void>((resolve, reject) => {
      client.subscribe(filter, { qos }, (err, granted) => {
        if (err || granted?.some((g) => g.qos === 128)) reject(new PasserelleError('CONFIG_INVALID', `the MQTT broker refused the subscription ${filter} to ${o.username}: give it the admin role (mosquitto_ctrl dynsec init)`));
        else resolve();
      });
    });
  await subscribe(`${CONTROL}/response`, 1);
  await subscribe('$SYS/broker/clients/connected', 0);

  /** Run plugin commands in one message; each answer's error is thrown unless `tolerated` names it. */
  const control = async (commands: readonly Record<string, unknown>[], tolerated: RegExp = /^$/): Promise<ControlResponse[]> => {
    const ids = commands.map(() => randomUUID());
    const answers = ids.map(
      (id) =>
        new Promise<ControlResponse>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiting.delete(id);
            reject(new PasserelleError('BROKER_UNAVAILABLE', 'the MQTT broker did not answer a control command in time'));
          }, timeoutMs);
          waiting.set(id, (r) => {
            clearTimeout(timer);
            waiting.delete(id);
            resolve(r);
          });
        }),
    );
    client.publish(CONTROL, JSON.stringify({ commands: commands.map((c, i) => ({ ...c, correlationData: ids[i] })) }), { qos: 1 });
    const responses = await Promise.all(answers);
    for (const [i, r] of responses.entries()) {
      if (r.error && !tolerated.test(r.error)) throw new PasserelleError('BROKER_UNAVAILABLE', `the MQTT broker refused ${String(commands[i]!.command)}: ${r.error}`);
    }
    return responses;
  };

  // This gateway's own rights, and what every terminal may read: idempotent (an existing role is kept).
  const root = `${TOPIC_ROOT}/#`;
  await control(
    [
      {
        command: 'createRole',
        rolename: GATEWAY_ROLE,
        acls: [
          { acltype: 'publishClientSend', topic: root, allow: true },
          { acltype: 'subscribePattern', topic: root, allow: true },
          { acltype: 'subscribePattern', topic: `$share/${o.group}/${root}`, allow: true },
        ],
      },
      { command: 'createRole', rolename: TERMINALS_ROLE, acls: [POLICY_TOPIC, HOTLIST_TOPIC, HOTLIST_FULL_TOPIC].map((topic) => ({ acltype: 'subscribeLiteral', topic, allow: true })) },
    ],
    /already exists/i,
  );
  const [me] = await control([{ command: 'getClient', username: o.username }]);
  if (!me?.data?.client?.roles?.some((r) => r.rolename === GATEWAY_ROLE)) {
    // The plugin cuts a client whose roles change, so that the new rights apply: this one comes back at once.
    const back = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PasserelleError('BROKER_UNAVAILABLE', 'the MQTT broker did not take the gateway back after giving it its role')), timeoutMs);
      client.once('connect', () => (clearTimeout(timer), resolve()));
    });
    client.publish(CONTROL, JSON.stringify({ commands: [{ command: 'addClientRole', username: o.username, rolename: GATEWAY_ROLE }] }), { qos: 1 });
    await back;
    log.info({ role: GATEWAY_ROLE }, 'the gateway gave its broker account its role');
  }

  const shared = (filter: string) => (filter === REQUEST_FILTER || filter === STATUS_FILTER ? `$share/${o.group}/${filter}` : filter);
  const link: BrokerLink = {
    subscribe: async (filter, handler) => {
      handlers.push({ filter, handler });
      await subscribe(shared(filter), 1);
    },
    publish: (topic, payload) => {
      client.publish(topic, payload, { qos: 0 }, (err) => err && log.error({ topic, err: err.message }, 'publish failed'));
    },
    publishRetained: (topic, payload) => {
      client.publish(topic, payload, { qos: 1, retain: true }, (err) => err && log.error({ topic, err: err.message }, 'retained publish failed'));
    },
  };

  return {
    link,
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883)),
    // Every client of the broker, this region's gateways included (Mosquitto's $SYS count, every 10 s).
    connectedClients: () => connected,
    disconnect: (terminalId) => {
      control([{ command: 'disableClient', username: terminalId }], /not found/i).then(
        () => log.info({ terminalId }, 'terminal disabled on the broker (its connection cut)'),
        (err: unknown) => log.error({ err, terminalId }, 'could not disable the terminal on the broker'),
      );
    },
    provision: async (terminalId, password) => {
      const role = terminalRole(terminalId);
      await control([{ command: 'deleteClient', username: terminalId }, { command: 'deleteRole', rolename: role }], /not found/i);
      await control([
        {
          command: 'createRole',
          rolename: role,
          acls: [
            { acltype: 'publishClientSend', topic: requestTopic(terminalId), allow: true },
            { acltype: 'publishClientSend', topic: statusTopic(terminalId), allow: true },
            { acltype: 'subscribeLiteral', topic: replyTopic(terminalId), allow: true },
            { acltype: 'subscribeLiteral', topic: settingsTopic(terminalId), allow: true },
          ],
        },
        { command: 'createClient', username: terminalId, clientid: terminalId, password, roles: [{ rolename: role }, { rolename: TERMINALS_ROLE }] },
      ]);
    },
    allow: async (terminalId) => {
      await control([{ command: 'enableClient', username: terminalId }], /not found/i);
    },
    close: () => new Promise<void>((resolve) => client.end(false, {}, () => resolve())),
  };
}
