import type { FastifyInstance } from 'fastify';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createLogger, ns, type Logger } from '../common/log.ts';
import { VERSION } from '../common/version.ts';
import { readConnectToken } from '../protocol/connect-token.ts';
import { cardRefs } from './card-refs.ts';
import { isWebChannel } from './ledger/registry.ts';
import { WebCounter } from './web/counter.ts';
import { GatewayMetrics } from './metrics.ts';
import { DEMO_USERS_FILE, disableDemoUsers, seedDemoUsers } from './web/demo-users.ts';
import { TerminalContacts } from './contacts.ts';
import { fromB64url, nodeSigner, NodeVerifier } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { REQUEST_FILTER, STATUS_FILTER } from '../protocol/topics.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.ts';
import { startExternalBroker, type ExternalBroker } from './external-broker.ts';
import { brokerPassword } from '../protocol/connect-token.ts';
import { Parts } from './parts.ts';
import type { GatewayConfig } from './config.ts';
import { DEMO_PARTNERS, readDemoChips, readDemoTerminals, seedDemo, seedDemoChips, type DemoChip, type DemoTerminalKey } from './demo-data.ts';
import { HeartbeatIntake } from './heartbeats.ts';
import { SettingsPublisher } from './settings-publisher.ts';
import type { TerminalSettings } from '../protocol/terminal-settings.ts';
import { buildHttpApp, type HealthReport } from './http.ts';
import { writeAtomic } from '../common/files.ts';
import { loadOrCreateGatewayKeys, writePublicKeys, type GatewayKeys } from './keys.ts';
import { loadOrCreateBrokerTls, tlsWanted } from './tls.ts';
import { createApiToken } from './api/tokens.ts';
import type { ApiRole, Ledger } from './ledger/ledger.ts';
import { openConfiguredLedger } from './ledger-open.ts';
import { startWhileLeader } from './leader.ts';
import { DebitPipeline, type PipelineHooks } from './pipeline.ts';
import { sweepExpired } from './expiry.ts';
import { OfflinePublisher } from './offline-publisher.ts';

/**
 * The gateway's composition root. Start order: data directory, keys, ledger (seeded on first start),
 * pipeline, broker, HTTP. Stop order is the reverse, so nothing is accepted that cannot be finished:
 * HTTP, then the broker stops taking messages, the pipeline commits and answers what it holds, the
 * broker closes, the ledger closes, and the log is flushed last.
 */

export const DEMO_TERMINALS_FILE = 'demo-terminals.json';
export const DEMO_TOKENS_FILE = 'demo-tokens.json';
export const DEMO_CHIPS_FILE = 'demo-cards.json';

export interface Gateway {
  readonly config: GatewayConfig;
  readonly mqttUrl: string;
  /** The broker's TLS certificate terminals pin, when it speaks TLS (gateway/tls.ts). */
  readonly mqttCertPem?: string;
  readonly httpUrl: string;
  readonly mqttPort: number;
  readonly httpPort: number;
  readonly ledger: Ledger;
  readonly keys: GatewayKeys;
  readonly pipeline: DebitPipeline;
  /** The terminals' heartbeats, kept for the fleet view (gateway/heartbeats.ts). */
  readonly heartbeats: HeartbeatIntake;
  /** Keys of the seeded demo terminals (for simulators), when demo data is in use. */
  readonly demoTerminals: readonly DemoTerminalKey[];
  /** The demo cards' chip seeds (for simulated cards), when demo data is in use. */
  readonly demoChips: readonly DemoChip[];
  health(): Promise<HealthReport>;
  /** On an external broker: give it a terminal's account (enrolment does this; tools and benches too). */
  readonly provisionBroker?: (terminalId: string, password: string) => Promise<void>;
  /** Whether this gateway publishes the offline documents now (one gateway of a region does: gateway/leader.ts). */
  publishesOffline(): boolean;
  /** Graceful by default; `{ graceful: false }` drops uncommitted requests as a crash would. */
  close(opts?: { graceful?: boolean }): Promise<void>;
}

export interface StartOptions {
  readonly log?: Logger;
  readonly hooks?: PipelineHooks;
  readonly now?: () => number;
}

export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<Gateway> {
  const log = opts.log ?? createLogger({ level: config.log.level, name: 'gateway' });
  const now = opts.now ?? Date.now;
  const started = now();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const keys = loadOrCreateGatewayKeys(config.dataDir);
  const parts = new Parts(ns(log, 'gateway'));
  try {
    return await startParts(config, { ...opts, log, now, started, keys, parts });
  } catch (e) {
    await parts.stopAll({ graceful: false });
    throw e;
  }
}

/**
 * The parts in the order they start (each may use those before it); `close` stops them in reverse: the
 * sweep and the HTTP API first, then the pipeline (gracefully: what it holds is committed and answered
 * through the broker), the broker, the contacts' writer, and the ledger last.
 */
async function startParts(
  config: GatewayConfig,
  o: StartOptions & { readonly log: Logger; readonly now: () => number; readonly started: number; readonly keys: GatewayKeys; readonly parts: Parts },
): Promise<Gateway> {
  const { log, now, keys, parts } = o;
  const { ledger, where: ledgerAt } = await parts.start('ledger', () => openConfiguredLedger(config, ns(log, 'gateway.ledger')), async (l) => await l.ledger.close());
  log.info({ kind: config.ledger.kind, at: ledgerAt }, 'ledger open');
  const { terminals: demoTerminals, chips: demoChips, seeded } = await prepareDemo(config, ledger, now(), ns(log, 'gateway.seed'));
  if (seeded) writeAtomic(join(config.dataDir, DEMO_USERS_FILE), JSON.stringify(await seedDemoUsers(ledger, now()), null, 2) + '\n', 0o600);
  const contacts = await parts.start(
    'contacts',
    () => {
      const c = new TerminalContacts({ ledger, maxAgeMs: config.mqtt.connectTokenMaxAgeS * 1000, log: ns(log, 'gateway.contacts') });
      c.start();
      return c;
    },
    async (c) => await c.stop(),
  );
  const verifier = new NodeVerifier();
  const { host, port, connectTokenMaxAgeS: _age, publicUrl: _url, tls: tlsConfig, external, ...limits } = config.mqtt;
  const externalCert = external ? externalTls(external) : undefined;
  const tls = !external && tlsWanted(tlsConfig.mode, host) ? await loadOrCreateBrokerTls(config.dataDir, host, tlsConfig) : undefined;
  /** The certificate terminals pin: the embedded broker's own, or the external broker's. */
  const brokerCertPem = tls?.certPem ?? externalCert?.certPem;
  const broker: EmbeddedBroker & Partial<Pick<ExternalBroker, 'provision' | 'allow'>> = await parts.start(
    'broker',
    () =>
      external
        ? startExternalBroker({
            url: external.url,
            username: external.username,
            password: external.password ?? process.env.PASSERELLE_MQTT_PASSWORD ?? '',
            group: external.group,
            clientId: external.clientId ?? `gateway-${hostname().replace(/[^A-Za-z0-9_-]/g, '')}-${process.pid}`,
            ...(externalCert ? { tls: externalCert } : {}),
            log: ns(log, 'gateway.broker'),
          })
        : startEmbeddedBroker({
        host,
        port,
        limits,
        ...(tls ? { tls } : {}),
        log: ns(log, 'gateway.broker'),
        authenticate: async (clientId, username, password) => {
          const t = await ledger.terminal(clientId);
          // A deactivated terminal is off the broker, not only refused at the rules; the web counter's channel never connects.
          if (!t || !t.active || isWebChannel(clientId)) return 'not-authorized';
          if (username !== clientId || !password) return 'bad-credentials';
          const claims = readConnectToken(clientId, password.toString('utf8'), t.publicKey, verifier);
          return claims !== undefined && await contacts.admit(clientId, claims, now()) === 'ok' ? 'ok' : 'bad-credentials';
        },
      }),
    (b) => b.close(),
  );
  // The demo terminals whose keys this gateway holds get their broker accounts (idempotent).
  if (broker.provision) for (const t of demoTerminals) await broker.provision(t.terminalId, brokerPassword(nodeSigner(fromB64url(t.seed, 32, 'key'))));
  const metrics = new GatewayMetrics();
  const pipeline = await parts.start(
    'pipeline',
    async () => {
      const p = new DebitPipeline({
        ledger,
        keys,
        metrics,
        publish: (topic, payload) => broker.link.publish(topic, payload),
        log: ns(log, 'gateway.pipeline'),
        batch: config.batch,
        maxInFlight: config.limits.maxInFlight,
        maxInFlightPerTerminal: config.limits.maxInFlightPerTerminal,
        terminalRecords: config.limits.terminalRecords,
        gapGraceMs: config.offline.gapGraceMs,
        now,
        ...(o.hooks ? { hooks: o.hooks } : {}),
      });
      await broker.link.subscribe(REQUEST_FILTER, p.handle);
      return p;
    },
    (p, s) => p.stop(s.graceful),
  );
  const heartbeats = await parts.start(
    'heartbeats',
    async () => {
      const h = new HeartbeatIntake({ ledger, verifier, now, log: ns(log, 'gateway.heartbeats'), minIntervalMs: config.fleet.heartbeatMinIntervalS * 1000 });
      await broker.link.subscribe(STATUS_FILTER, h.handle);
      return h;
    },
    (h) => h.stop(),
  );
  // One publisher of the offline documents per region: the gateway holding the lease (gateway/leader.ts).
  const offlinePublisher = await parts.start(
    'offline publisher',
    () =>
      startWhileLeader({
        ledger,
        name: 'offline-publisher',
        retryMs: 5000,
        // Embedded brokers: each gateway publishes to its own. One shared broker: one publisher.
        shared: external !== undefined,
        log: ns(log, 'gateway.offline'),
        start: async () => {
          const p = new OfflinePublisher({
            ledger,
            keys,
            publishRetained: (topic, payload) => broker.link.publishRetained(topic, payload),
            limits: config.offline.limits,
            refreshS: config.offline.hotlistRefreshS,
            fullEvery: config.offline.hotlistFullEvery,
            now,
            log: ns(log, 'gateway.offline'),
          });
          await p.start();
          return p;
        },
      }),
    (p) => p.stop(),
  );
  const health = async (): Promise<HealthReport> => {
    let ledgerOk = true;
    try {
      await ledger.terminal('');
    } catch {
      ledgerOk = false;
    }
    return {
      // Degraded while the ledger fails now; a fault that has passed (a commit succeeded since) is only counted.
      status: ledgerOk && !pipeline.ledgerFailing ? 'ok' : 'degraded',
      version: VERSION,
      uptimeS: Math.floor((now() - o.started) / 1000),
      mqtt: { host: broker.host, port: broker.port, clients: broker.connectedClients() },
      ledger: { ok: ledgerOk && !pipeline.ledgerFailing },
      pipeline: { ...pipeline.stats },
    };
  };
  const mqttUrl = external ? external.url : `${tls ? 'mqtts' : 'mqtt'}://${broker.host}:${broker.port}`;
  if (brokerCertPem) writePublicKeys(config.dataDir, keys, brokerCertPem);
  const settings = await parts.start(
    'settings publisher',
    async () => {
      const p = new SettingsPublisher({ ledger, signer: keys.signer, publishRetained: (topic, payload) => broker.link.publishRetained(topic, payload), log: ns(log, 'gateway.settings') });
      await p.publishAll();
      return p;
    },
    () => undefined,
  );
  const fleet = {
    publishSettings: (s: TerminalSettings) => settings.publish(s),
    signer: keys.signer,
    keys,
    mqttUrl: config.mqtt.publicUrl ?? mqttUrl,
    ...(brokerCertPem ? { mqttCertPem: brokerCertPem } : {}),
    disconnect: (id: string) => broker.disconnect(id),
    // On an external broker the enrolment replaced the account, which cut the old key's connection.
    onKeyReplaced: (id: string) => (broker.provision ? undefined : broker.disconnect(id)),
    ...(broker.provision ? { provisionBroker: broker.provision, allow: broker.allow! } : {}),
  };
  const debtor = { name: config.sepa.debtorName, iban: config.sepa.debtorIban, bic: config.sepa.debtorBic };
  const counter = new WebCounter({ ledger, submit: (body, message) => pipeline.submit(body, message), boxPublicKey: keys.boxPublicKey, channelKey: keys.signer.publicKey, now });
  const w = config.web;
  const webConfig = { lockAfter: w.loginLockAfter, lockForMs: w.loginLockMinutes * 60_000, loginPerMinute: w.loginPerMinute, sessionMaxMs: w.sessionHours * 3600_000, sessionIdleMs: w.sessionIdleMinutes * 60_000, invitationTtlMs: w.invitationDays * 86_400_000 };
  const web = { counter, sessionSecret: keys.signSeed, config: webConfig };
  const app = buildHttpApp({ health, log: ns(log, 'gateway.http'), ledger, now, api: { debtor, fleetOnlineWithinS: config.fleet.onlineWithinS }, issuer: keys.issuer, cardRefs: cardRefs(keys.signSeed), fleet, web, rateLimit: config.http.rateLimit, trustProxy: config.http.trustProxy, metrics: { text: () => metrics.text(), contentType: metrics.contentType, allow: config.http.metricsAllow } });
  metrics.attach({ stats: () => pipeline.stats, connectedTerminals: () => broker.connectedClients(), fleetTotals: async () => await ledger.fleetTotals() });
  await parts.start('HTTP API', () => listenHttp(app, config), (a) => a.close());
  await parts.start('expiry sweep', () => startExpirySweep(ledger, config.rules.expirySweepS, now, ns(log, 'gateway.expiry')), (stop) => stop());
  const addr = app.server.address();
  const httpPort = typeof addr === 'object' && addr ? addr.port : config.http.port;
  log.info({ mqtt: mqttUrl, http: `http://${config.http.host}:${httpPort}`, tlsFingerprint256: tls?.fingerprint256 }, 'gateway ready: terminals connect over MQTT, browsers over HTTP');
  let closed = false;
  return {
    config,
    mqttUrl,
    ...(brokerCertPem ? { mqttCertPem: brokerCertPem } : {}),
    httpUrl: `http://${config.http.host}:${httpPort}`,
    mqttPort: broker.port,
    httpPort,
    ledger,
    keys,
    pipeline,
    heartbeats,
    demoTerminals,
    demoChips,
    health,
    ...(broker.provision ? { provisionBroker: broker.provision } : {}),
    publishesOffline: () => offlinePublisher.leading(),
    async close({ graceful = true } = {}) {
      if (closed) return;
      closed = true;
      await parts.stopAll({ graceful });
      log.flush();
    },
  };
}

/** The HTTP API on its port; a taken port is PORT_IN_USE naming the setting, the app closed. */
async function listenHttp(app: FastifyInstance, config: GatewayConfig): Promise<FastifyInstance> {
  try {
    await app.listen({ host: config.http.host, port: config.http.port });
    return app;
  } catch (e) {
    await app.close();
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PasserelleError('PORT_IN_USE', `HTTP API (http.port): port ${config.http.port} on ${config.http.host} is already in use by another process; choose another port in the configuration`);
    }
    throw e;
  }
}

/**
 * R7: return ended wallets' unspent value to the Region now and then. Sales check windows themselves, so
 * the sweep only keeps balances and reports honest; a failed sweep is logged and tried again next time.
 */
function startExpirySweep(ledger: Ledger, everyS: number, now: () => number, log: Logger): () => void {
  if (everyS === 0) return () => undefined;
  const stop = new AbortController();
  let running = false;
  const run = () => {
    if (running || stop.signal.aborted) return;
    running = true;
    sweepExpired(ledger, now(), { signal: stop.signal })
      .then(
        (r) => r.wallets > 0 && log.info(r, 'expired wallets returned to the Region'),
        (err: unknown) => log.error({ err }, 'expiry sweep failed; the next one finds what is left'),
      )
      .finally(() => (running = false));
  };
  run();
  const t = setInterval(run, everyS * 1000);
  t.unref();
  return () => {
    clearInterval(t);
    stop.abort();
  };
}

/**
 * Seed the demo data into an empty ledger (first start) and return the demo terminals' keys. Started
 * without the demo (`seedDemo` false) on a ledger that holds it, the gateway withdraws the demo's
 * published secrets: its API tokens are revoked and its terminals deactivated (their private keys sit in
 * a file), and the files that gave them out are deleted.
 */
async function prepareDemo(config: GatewayConfig, ledger: Ledger, at: number, log: Logger): Promise<{ terminals: DemoTerminalKey[]; chips: DemoChip[]; seeded: boolean }> {
  const file = join(config.dataDir, DEMO_TERMINALS_FILE);
  const tokensFile = join(config.dataDir, DEMO_TOKENS_FILE);
  const chipsFile = join(config.dataDir, DEMO_CHIPS_FILE);
  if (!config.seedDemo) {
    await withdrawDemo(ledger, [file, tokensFile, chipsFile, join(config.dataDir, DEMO_USERS_FILE)], at, log);
    return { terminals: [], chips: [], seeded: false };
  }
  if ((await ledger.counts()).partners === 0) {
    const keys = await seedDemo(ledger, at);
    writeAtomic(file, JSON.stringify(keys, null, 2) + '\n', 0o600);
    const chips = await seedDemoChips(ledger, at);
    writeAtomic(chipsFile, JSON.stringify(chips, null, 2) + '\n', 0o600);
    // Demo only: one API token per role, so the admin API can be tried at once (docs/api.md).
    const demo = async (name: string, role: ApiRole, partnerId?: string) => await createApiToken(ledger, { name, role, demo: true, ...(partnerId ? { partnerId } : {}) }, at);
    const tokens = { operator: await demo('démo : Région', 'operator'), technician: await demo('démo : technicien', 'technician'), partner: await demo('démo : Librairie des Canuts', 'partner', 'P-LIB-LYON') };
    writeAtomic(tokensFile, JSON.stringify(tokens, null, 2) + '\n', 0o600);
    log.info({ terminals: keys.length, file }, 'seeded the demo partners, terminals and cards');
    return { terminals: keys, chips, seeded: true };
  }
  return { terminals: existsSync(file) ? readDemoTerminals(file) : [], chips: existsSync(chipsFile) ? readDemoChips(chipsFile) : [], seeded: false };
}

async function withdrawDemo(ledger: Ledger, files: readonly string[], at: number, log: Logger): Promise<void> {
  const tokens = await ledger.revokeDemoTokens(at);
  const users = await disableDemoUsers(ledger, DEMO_PARTNERS.map((p) => p.id), at);
  let terminals = 0;
  for (const id of DEMO_PARTNERS.flatMap((p) => p.terminals)) {
    const t = await ledger.terminal(id);
    if (t?.active) {
      await ledger.setTerminalActive(id, false);
      terminals++;
    }
  }
  for (const f of files) rmSync(f, { force: true });
  if (tokens + terminals + users > 0) log.warn({ tokens, terminals, users }, 'demo switched off: its API tokens are revoked, its terminals deactivated and its web accounts disabled');
}

/** The external broker's certificate to pin and to give terminals, for an mqtts:// URL. */
function externalTls(external: NonNullable<GatewayConfig['mqtt']['external']>): { readonly certPem: string } | undefined {
  if (!external.url.startsWith('mqtts://')) return undefined;
  if (!external.certFile) throw new PasserelleError('CONFIG_INVALID', 'mqtt.external.certFile: an mqtts:// broker needs its certificate (PEM), which the gateway pins and gives to terminals');
  try {
    return { certPem: readFileSync(external.certFile, 'utf8') };
  } catch (e) {
    throw new PasserelleError('CONFIG_INVALID', `mqtt.external.certFile: cannot read ${external.certFile}: ${(e as Error).message}`);
  }
}
