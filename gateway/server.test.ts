import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../common/log.ts';
import { isPasserelleError } from '../protocol/errors.ts';
import { loadGatewayConfig } from './config.ts';
import { startGateway } from './server.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the gateway starts its parts in order and stops them in reverse', () => {
  it('a start that fails on its last door (the HTTP port taken) stops every part it had started: nothing keeps running against a closed ledger', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-start-'));
    dirs.push(dir);
    const lines: { level: number; msg: string }[] = [];
    const log = createLogger({ level: 'debug', name: 'gateway', destination: { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) } });
    const config = loadGatewayConfig(undefined, { dataDir: dir, mqtt: { port: 0 }, http: { port: taken } });
    try {
      const err = await startGateway(config, { log }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPasserelleError(err, 'PORT_IN_USE')).toBe(true);
      const atFailure = lines.length;
      // The offline publisher ticks every second, the expiry sweep and the contacts' writer on timers: none may run on.
      await new Promise((r) => setTimeout(r, 2500));
      expect(lines.slice(atFailure).filter((l) => l.level >= 50)).toEqual([]);
      expect(lines.slice(atFailure).map((l) => l.msg)).toEqual([]);
    } finally {
      blocker.close();
    }
  });
});
