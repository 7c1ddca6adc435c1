import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../common/config.ts';
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
});
