import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { thrown } from '../tests/helpers/errors.ts';
import { loadGatewayConfig } from './config.ts';

const failure = thrown;

describe('gateway configuration', () => {
  it('runs on defaults: embedded broker off 1883, demo data seeded', () => {
    const c = loadGatewayConfig(undefined);
    expect(c).toMatchObject({ dataDir: 'data', seedDemo: true, mqtt: { host: '127.0.0.1', port: 1884 }, batch: { maxWaitMs: 0 } });
  });

  it('names the path of a bad value or an unknown key', async () => {
    expect(await failure(() => loadGatewayConfig(undefined, { mqtt: { port: 70000 } }))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('/mqtt/port') });
    expect(await failure(() => loadGatewayConfig(undefined, { batch: { maxItems: 0 } }))).toMatchObject({ message: expect.stringContaining('/batch/maxItems') });
    expect(await failure(() => loadGatewayConfig(undefined, { brokr: {} }))).toMatchObject({ message: expect.stringContaining('/brokr') });
    expect(await failure(() => loadGatewayConfig(undefined, { log: { level: 'loud' } }))).toMatchObject({ message: expect.stringContaining('/log/level') });
  });

  it('refuses an unreadable or non-JSON file, and lets flags override the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-cfg-'));
    try {
      expect((await failure(() => loadGatewayConfig(join(dir, 'missing.json')))).code).toBe('CONFIG_INVALID');
      writeFileSync(join(dir, 'bad.json'), '{ "mqtt": ');
      expect((await failure(() => loadGatewayConfig(join(dir, 'bad.json')))).message).toContain('not valid JSON');
      writeFileSync(join(dir, 'ok.json'), JSON.stringify({ mqtt: { port: 2000, host: '127.0.0.1' }, http: { port: 9000 } }));
      expect(loadGatewayConfig(join(dir, 'ok.json'), { mqtt: { port: 2001 } })).toMatchObject({ mqtt: { port: 2001, host: '127.0.0.1' }, http: { port: 9000 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
