import { dirname, join } from 'node:path';
import { parseConfig, readJsonFile } from '../common/config.ts';
import { readPublicKeys, readSeedFile } from '../common/key-file.ts';
import type { Logger } from '../common/log.ts';
import { VERSION } from '../common/version.ts';
import type { Benefit } from '../protocol/benefits.ts';
import { nodeSigner } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import type { GatewayPublicKeys } from '../protocol/gateway-keys.ts';
import type { HeartbeatBody } from '../protocol/heartbeat.ts';
import { systemClock } from './bindings.ts';
import { TerminalConfigSchema, type TerminalConfig } from './config.ts';
import { startControl, type Control } from './control.ts';
import { deviceBindings, type DeviceBindings } from './devices/bindings.ts';
import { HeartbeatReporter } from './heartbeat.ts';
import { TillServer } from './till/server.ts';
import { openDevices, type OpenedDevices } from './devices/open.ts';
import type { Link } from './link.ts';
import type { Outcome } from './sale.ts';
import { createTerminal, type Terminal } from './terminal.ts';

/**
 * The terminal service (`passerelle terminal start -c terminal.json`): the runtime on the devices its config
 * names, until stopped. It starts without a network: the link reconnects forever with jittered backoff
 * while sales are judged offline under the policy and hotlist the outbox already holds (docs/offline.md).
 * Sales come in through the loopback control endpoint (terminal/control.ts), one at a time.
 *
 * Stopping (SIGTERM, SIGINT): no new sale is taken; a sale still waiting for a card or a code is cancelled
 * (nothing was recorded); a sale already committed is let finish, its reply or its timeout (void, then
 * offline acceptance) within `replyTimeoutMs`; then the link, the devices and the outbox close. The queue
 * is on disk throughout: whatever was not acknowledged is sent after the next start, and a sale cut by a
 * power loss instead is voided at that start (terminal/runtime/recovery.ts).
 */

export interface ServiceOptions {
  readonly configFile: string;
  readonly log: Logger;
  /** Wrap the link (tests cut the network). */
  readonly wrapLink?: (link: Link) => Link;
  /** Simulated devices instead of those the config names (tests, the benchmark, a demo). */
  readonly devices?: { readonly bindings: DeviceBindings; close?(): Promise<void> };
}

/** How long past `replyTimeoutMs` a stop waits for a committed sale to finish (its fallback, its screen). */
export const STOP_GRACE_MS = 2000;

/** The terminal's key and the gateway's public keys, from the files its config names. */
export function provisioned(config: TerminalConfig, source: string): { seed: Uint8Array; gateway: GatewayPublicKeys } {
  if (!config.keyFile || !config.gatewayKeysFile) {
    throw new PasserelleError('CONFIG_INVALID', `${source}: keyFile and gatewayKeysFile are needed (written by passerelle terminal enrol)`);
  }
  return { seed: readSeedFile(config.keyFile), gateway: readPublicKeys(config.gatewayKeysFile) };
}

export class TerminalService {
  readonly config: TerminalConfig;
  readonly terminal: Terminal;
  readonly bindings: DeviceBindings;
  readonly #devices: OpenedDevices;
  readonly #log: Logger;
  #control: Control | undefined;
  #current: Promise<Outcome> | undefined;
  #stopping: Promise<void> | undefined;
  #lastSaleAt: number | undefined;
  #heartbeat: HeartbeatReporter | undefined;
  #till: TillServer | undefined;
  #maintenance: NodeJS.Timeout | undefined;
  #resolveStopped!: () => void;
  readonly #stopped = new Promise<void>((r) => (this.#resolveStopped = r));
  readonly #startedAt = Date.now();

  private constructor(config: TerminalConfig, terminal: Terminal, bindings: DeviceBindings, devices: OpenedDevices, log: Logger) {
    this.config = config;
    this.terminal = terminal;
    this.bindings = bindings;
    this.#devices = devices;
    this.#log = log;
  }

  static async start(o: ServiceOptions): Promise<TerminalService> {
    const config = parseConfig(TerminalConfigSchema, readJsonFile(o.configFile), o.configFile);
    const { seed, gateway } = provisioned(config, o.configFile);
    const log = o.log.child({ terminalId: config.terminalId });
    const simulated = o.devices;
    const devices: OpenedDevices = simulated
      ? { failures: new Map(), close: async () => simulated.close?.() }
      : await openDevices(config.devices, { clock: systemClock, log: log.child({ ns: 'terminal.devices' }) });
    for (const [device, e] of devices.failures) log.warn({ device, code: e.code, err: e.message }, 'device unavailable: sales that need it wait or fail; run passerelle terminal doctor');
    let terminal: Terminal;
    let bindings: DeviceBindings;
    const signer = nodeSigner(seed);
    try {
      bindings = simulated?.bindings ?? deviceBindings(devices, config.devices, { gateway, clock: systemClock, log: log.child({ ns: 'terminal.display' }) });
      terminal = createTerminal(config, {
        bindings,
        signer,
        gatewaySignPublicKey: gateway.signPublicKey,
        issuerPublicKey: gateway.issuerPublicKey,
        log,
        ...(gateway.mqttCertPem ? { mqttCertPem: gateway.mqttCertPem } : {}),
        ...(o.wrapLink ? { wrapLink: o.wrapLink } : {}),
      });
    } catch (e) {
      await devices.close();
      throw e;
    }
    const service = new TerminalService(config, terminal, bindings, devices, log);
    service.#heartbeat = new HeartbeatReporter({ link: terminal.link, signer, clock: systemClock, intervalMs: () => terminal.runtime.settings().heartbeatS * 1000, snapshot: () => service.heartbeat(), log });
    service.#heartbeat.start();
    terminal.runtime.onSettled = (s) => log.info({ txnId: s.txnId, status: s.status }, 'record settled by the gateway');
    try {
      service.#control = await startControl(
        {
          status: () => service.status(),
          sale: (b, a) => service.sale(b, a),
          cancel: () => terminal.runtime.cancel(),
          maintenance: (on, forS) => service.maintenance(on, forS),
          shutdown: () => void service.stop(),
          cashier: {
            offered: () => terminal.runtime.settings().benefits,
            status: () => service.status(),
            screen: () => bindings.display.last,
            onScreen: (l) => bindings.display.subscribe(l),
            recentSales: (n) => terminal.outbox.recentSales(n),
            voidOf: (txnId) => terminal.outbox.voidOf(txnId),
            cancelLastSale: () => service.cancelLastSale(),
            sale: (b, a) => service.sale(b, a),
            cancel: () => terminal.runtime.cancel(),
          },
        },
        { port: config.control.port, file: config.control.file ?? join(dirname(config.outboxFile), 'control.json'), log },
      );
    } catch (e) {
      await service.#close();
      throw e;
    }
    if (config.till) {
      try {
        service.#till = await TillServer.start(
          { sale: (b, a) => service.sale(b, a), offered: () => terminal.runtime.settings().benefits },
          { ...config.till, log: log.child({ ns: 'terminal.till' }) },
        );
      } catch (e) {
        await service.#close();
        throw e;
      }
    }
    const st = terminal.outbox.stats();
    log.info(
      { version: VERSION, partner: config.enrolment?.partnerName, control: service.#control.url, till: service.#till ? `${config.till!.host}:${service.#till.port}` : null, gatewayUrl: config.gatewayUrl, pending: st.pending, devices: service.devices() },
      'terminal service started',
    );
    return service;
  }

  /**
   * Maintenance for an update (terminal/update.ts): no new sale is taken until it is switched off or
   * `forS` passes (an update that dies does not leave the terminal unable to sell); the sale in progress
   * finishes as usual. Returns the status.
   */
  maintenance(on: boolean, forS = 600): ReturnType<TerminalService['status']> {
    clearTimeout(this.#maintenance);
    this.#maintenance = on ? setTimeout(() => (this.#maintenance = undefined), forS * 1000) : undefined;
    this.#log.info({ on, forS: on ? forS : undefined }, on ? 'maintenance: no new sale' : 'maintenance over: selling again');
    return this.status();
  }

  /** One sale at a time, as the cashier's page or the till asks for it; refused once stopping or in maintenance. */
  sale(benefit: Benefit, amount: number): Promise<Outcome> {
    const busy = this.#busy();
    if (busy) return Promise.reject(busy);
    const { benefits } = this.terminal.runtime.settings();
    if (!benefits.includes(benefit)) return Promise.reject(new PasserelleError('BENEFIT_NOT_ALLOWED', `this terminal offers ${benefits.join(', ')}`));
    const sale = this.terminal.runtime.sale(benefit, amount);
    this.#current = sale;
    void sale.then(
      (outcome) => {
        this.#lastSaleAt = Date.now();
        this.#log.info({ benefit, amount, outcome: outcome.kind, ...('txnId' in outcome ? { txnId: outcome.txnId } : {}), ...('code' in outcome ? { code: outcome.code } : {}) }, 'sale finished');
      },
      (e: unknown) => this.#log.error({ err: e }, 'sale failed'),
    ).finally(() => (this.#current = undefined));
    return sale;
  }

  /** The cashier cancels the last sale the same day (terminal/runtime.ts `cancelLastSale`); not while a sale runs. */
  cancelLastSale(): ReturnType<Terminal['runtime']['cancelLastSale']> {
    const busy = this.#busy();
    if (busy) return Promise.reject(busy);
    // Busy until the gateway answered (or the wait ended): no sale starts under the cancellation's screen.
    const cancelling = this.terminal.runtime.cancelLastSale();
    this.#current = cancelling.then(
      () => ({ kind: 'cancelled', code: 'SALE_CANCELLED' }) as Outcome,
      () => ({ kind: 'cancelled', code: 'SALE_CANCELLED' }) as Outcome,
    );
    void this.#current.finally(() => (this.#current = undefined));
    return cancelling;
  }

  /** Why nothing new may start now (stopping, an update, a sale or a cancellation under way), or undefined. */
  #busy(): PasserelleError | undefined {
    if (this.#stopping) return new PasserelleError('TERMINAL_STOPPING');
    if (this.#maintenance) return new PasserelleError('UPDATE_IN_PROGRESS');
    if (this.#current) return new PasserelleError('SALE_IN_PROGRESS');
    return undefined;
  }

  devices(): Record<'nfc' | 'pad' | 'qr', string> {
    const state = (name: 'nfc' | 'pad' | 'qr', configured: boolean) => this.#devices.failures.get(name)?.code ?? (configured ? 'ok' : 'none');
    return { nfc: state('nfc', this.config.devices.nfc.enabled), pad: state('pad', this.config.devices.pad !== null), qr: state('qr', this.config.devices.qr.kind !== 'none') };
  }

  status() {
    const st = this.terminal.outbox.stats();
    const settings = this.terminal.runtime.settings();
    return {
      terminalId: this.config.terminalId,
      partner: this.config.enrolment?.partnerName ?? null,
      version: VERSION,
      benefits: settings.benefits,
      settingsVersion: settings.version,
      state: this.terminal.runtime.state.tag,
      stopping: this.#stopping !== undefined,
      maintenance: this.#maintenance !== undefined,
      pid: process.pid,
      till: this.#till ? { port: this.#till.port } : null,
      link: this.terminal.runtime.linkStatus(),
      outbox: st,
      devices: this.devices(),
      screen: this.bindings.display.last ?? null,
      lastSaleAt: this.#lastSaleAt === undefined ? null : new Date(this.#lastSaleAt).toISOString(),
    };
  }

  /** What the heartbeat reports now (protocol/heartbeat.ts). */
  heartbeat(): HeartbeatBody {
    const q = this.terminal.outbox.stats();
    const policy = this.terminal.outbox.policy();
    const hotlist = this.terminal.outbox.hotlistState();
    return {
      terminalId: this.config.terminalId,
      sentAt: Date.now(),
      startedAt: this.#startedAt,
      software: VERSION,
      policyVersion: policy?.version ?? null,
      hotlistVersion: hotlist.version > 0 ? hotlist.version : null,
      settingsVersion: this.terminal.runtime.settings().version,
      queue: { pending: q.pending, oldestPendingAt: q.oldestPendingAt, offlinePending: q.offlinePending, offlinePendingCents: q.offlinePendingCents },
      devices: this.devices(),
      lastSaleAt: this.#lastSaleAt ?? null,
    };
  }

  /** Stop as the class comment says; idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    this.#stopping.then(this.#resolveStopped, this.#resolveStopped);
    return this.#stopping;
  }

  /** Resolves once the service stopped, whoever asked (a signal, the control endpoint's shutdown). */
  whenStopped(): Promise<void> {
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    const current = this.#current;
    if (current) {
      const tag = this.terminal.runtime.state.tag;
      if (tag === 'awaitingCredential' || tag === 'awaitingPin') this.terminal.runtime.cancel();
      this.#log.info({ state: tag }, 'stopping: the sale in progress finishes first');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([current.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, this.config.replyTimeoutMs + STOP_GRACE_MS)))]);
      clearTimeout(timer);
    }
    await this.#close();
    this.#log.info({ pending: this.#pendingAtStop }, 'terminal service stopped; the queue is kept');
  }

  #pendingAtStop: number | undefined;

  async #close(): Promise<void> {
    clearTimeout(this.#maintenance);
    this.#heartbeat?.stop();
    await this.#till?.close();
    await this.#control?.close();
    this.#pendingAtStop = this.terminal.outbox.stats().pending;
    await this.terminal.close();
    await this.#devices.close();
  }
}
