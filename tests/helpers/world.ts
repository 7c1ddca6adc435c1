import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/log.ts';
import { DEMO_CARDS, demoCard, type DemoTerminalKey } from '../../gateway/demo-data.ts';
import { mergeConfig } from '../../common/config.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway, type Gateway, type StartOptions } from '../../gateway/server.ts';
import type { Benefit } from '../../protocol/benefits.ts';
import { CardHolder } from '../../simulators/card-holder.ts';
import { SimTerminal } from '../../simulators/sim-terminal.ts';
import type { TerminalConfig } from '../../terminal/config.ts';
import { registerTestChips, testBureau } from './chips.ts';
import { RawTerminal } from './raw-terminal.ts';

/**
 * A gateway on free ports in its own temporary directory, seeded with the demo data, and simulated
 * terminals for its demo terminals. Every test file gets its own, so no test depends on another's state.
 */
export class World {
  readonly dir: string;
  gateway!: Gateway;
  readonly terminals: SimTerminal[] = [];
  readonly #raws: RawTerminal[] = [];
  #mqttPort = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'passerelle-test-'));
  }

  async startGateway(opts: StartOptions = {}, overrides: Record<string, unknown> = {}): Promise<Gateway> {
    // Deep: an override of one broker setting keeps the free port (two test files never meet on 1884).
    const config = loadGatewayConfig(undefined, mergeConfig({ dataDir: this.dir, mqtt: { port: this.#mqttPort }, http: { port: 0 }, log: { level: 'silent' } }, overrides));
    this.gateway = await startGateway(config, { log: silentLogger, ...opts });
    // The demo cards carry the test chips, so requests built by hand (tests/helpers/debits.ts) prove the card.
    await registerTestChips(this.gateway.ledger, DEMO_CARDS.map((c) => c.number));
    // A restarted gateway comes back on the same port, where the terminals reconnect.
    this.#mqttPort = this.gateway.mqttPort;
    return this.gateway;
  }

  key(terminalId: string): DemoTerminalKey {
    const k = this.gateway.demoTerminals.find((t) => t.terminalId === terminalId);
    if (!k) throw new Error(`no demo terminal ${terminalId}`);
    return k;
  }

  /**
   * A simulated terminal for a demo terminal id. Asking again for the same id restarts that terminal (with
   * the new settings) on its own outbox, as a real one would: one terminal, one record sequence.
   */
  async terminal(terminalId: string, config: Partial<TerminalConfig> = {}, benefits: Benefit[] = ['SPORT'], crypto: 'node' | 'tweetnacl' = 'node'): Promise<SimTerminal> {
    const running = this.terminals.findIndex((x) => x.terminalId === terminalId);
    if (running >= 0) await this.terminals.splice(running, 1)[0]!.close();
    const t = SimTerminal.start({
      terminalId,
      seed: this.key(terminalId).seed,
      gatewayUrl: this.gateway.mqttUrl,
      gateway: { ...this.gateway.keys, ...(this.gateway.mqttCertPem ? { mqttCertPem: this.gateway.mqttCertPem } : {}) },
      cards: testBureau(this.gateway.keys.issuer, this.gateway.ledger),
      outboxFile: join(this.dir, `outbox-${terminalId}.sqlite`),
      benefits,
      crypto,
      config: { backoffBaseMs: 20, backoffMaxMs: 200, resendIntervalMs: 300, ...config },
      log: silentLogger,
    });
    this.terminals.push(t);
    await t.waitUntilUp();
    return t;
  }

  /** A bare MQTT client holding a demo terminal's key (tests/helpers/raw-terminal.ts), closed with the world. */
  async raw(terminalId: string): Promise<RawTerminal> {
    const r = await RawTerminal.connect(this.gateway.mqttUrl, terminalId, this.key(terminalId).seed, this.gateway.keys.signPublicKey);
    this.#raws.push(r);
    return r;
  }

  async close(): Promise<void> {
    for (const r of this.#raws) await r.close();
    for (const t of this.terminals) await t.close();
    await this.gateway?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function holder(name: string): CardHolder {
  const c = demoCard(name);
  return new CardHolder(c.holder, c.number, c.pin);
}
