import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../common/config.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { TerminalConfigSchema } from '../terminal/config.ts';
import { STOP_GRACE_MS } from '../terminal/service.ts';

/** What deploy/ gives a technician stays true: the example config is valid, the unit runs the real command. */

const file = (name: string) => readFileSync(new URL(`../deploy/${name}`, import.meta.url), 'utf8');

describe('deploy/', () => {
  it('the example terminal config passes the schema as it is, every key written out', () => {
    const raw = JSON.parse(file('terminal.example.json')) as Record<string, unknown>;
    const config = parseConfig(TerminalConfigSchema, raw, 'terminal.example.json');
    // Written out in full: applying the defaults adds nothing, so the example shows every setting.
    expect(config).toEqual(raw);
  });

  it('the systemd unit starts the terminal service with its config and lets a committed sale finish before the kill', () => {
    const unit = file('passerelle-terminal.service');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/passerelle\/current\/bin\/passerelle\.mjs terminal start -c \/var\/lib\/passerelle-terminal\/terminal\.json$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    const stopS = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    const config = parseConfig(TerminalConfigSchema, JSON.parse(file('terminal.example.json')), 'example');
    expect(stopS * 1000).toBeGreaterThan(config.replyTimeoutMs + STOP_GRACE_MS + 10_000);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/passerelle-terminal$/m);
    expect(unit).toContain(config.outboxFile.replace(/\/[^/]+$/, ''));
  });

  it('the region gateways: valid configs on PostgreSQL and Mosquitto, one shared group, distinct client ids, and a unit that runs them', () => {
    const configs = ['region/gateway-1.json', 'region/gateway-2.json'].map((f) => loadGatewayConfig(new URL(`../deploy/${f}`, import.meta.url).pathname));
    for (const c of configs) {
      expect(c.ledger).toMatchObject({ kind: 'postgres', url: expect.stringMatching(/^postgres:\/\/passerelle@/) });
      expect(c.mqtt.external).toMatchObject({ url: expect.stringMatching(/^mqtts:\/\//), group: 'passerelle', username: 'passerelle-gateway' });
      expect(c.seedDemo).toBe(false);
    }
    expect(configs[0]!.mqtt.external!.clientId).not.toBe(configs[1]!.mqtt.external!.clientId);
    const unit = file('region/passerelle-gateway@.service');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/passerelle\/current\/bin\/passerelle\.mjs gateway start --config \/etc\/passerelle\/gateway-%i\.json$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/passerelle-gateway$/m);
    expect(configs[0]!.dataDir).toBe('/var/lib/passerelle-gateway');
    // The broker file names the plugin and keeps retained documents across a restart.
    const mosquitto = file('region/mosquitto.conf');
    expect(mosquitto).toMatch(/^plugin \/usr\/lib\/x86_64-linux-gnu\/mosquitto_dynamic_security\.so$/m);
    expect(mosquitto).toMatch(/^allow_anonymous false$/m);
    expect(mosquitto).toMatch(/^persistence true$/m);
  });
});
