import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, readJsonFile } from '../common/config.ts';
import { readPublicKeys, readSeedFile } from '../common/key-file.ts';
import { silentLogger } from '../common/log.ts';
import { b64url, publicKeyFromSeed } from '../protocol/crypto.ts';
import { SimTerminal } from '../simulators/sim-terminal.ts';
import { TerminalConfigSchema } from '../terminal/config.ts';
import { enrolTerminal } from '../terminal/enrol.ts';
import { testBureau } from './helpers/chips.ts';
import { settledCode } from './helpers/errors.ts';
import { holder, World } from './helpers/world.ts';

/**
 * `passerelle terminal enrol` against a running gateway: the key made on the device, the answer checked, a
 * complete terminal.json that sells; each refused code with its stable code and French text; an answer
 * that did not come from the code's gateway refused; nothing overwritten, nothing left behind on failure.
 */

const run = promisify(execFile);
const world = new World();
let operator: string;
let n = 0;

beforeAll(async () => {
  await world.startGateway();
  operator = (JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')) as { operator: string }).operator;
});
afterAll(() => world.close());

async function code(terminalId: string, o: { ttlS?: number; partnerId?: string } = {}): Promise<string> {
  const res = await fetch(`${world.gateway.httpUrl}/api/v1/enrolment-codes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ partnerId: o.partnerId ?? 'P-LIB-LYON', terminalId, ...(o.ttlS ? { ttlS: o.ttlS } : {}) }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { code: string }).code;
}

const freshDir = () => join(world.dir, `enrol-${++n}`);

describe('terminal enrol', () => {
  it('writes a complete terminal (0600 key made on the device, gateway keys, config) that sells at once', async () => {
    const dir = freshDir();
    const e = await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: await code('T-LIB-LYON-05'), dir, devices: { nfc: { enabled: false } } });
    expect(readdirSync(dir).sort()).toEqual(['gateway-public.json', 'terminal.json', 'terminal.key']);
    expect((statSync(join(dir, 'terminal.key')).mode & 0o777).toString(8)).toBe('600');
    const config = parseConfig(TerminalConfigSchema, readJsonFile(e.configFile), e.configFile);
    expect(config).toMatchObject({
      terminalId: 'T-LIB-LYON-05',
      gatewayUrl: world.gateway.mqttUrl,
      benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'],
      outboxFile: join(dir, 'outbox.sqlite'),
      devices: { nfc: { enabled: false }, pad: null },
      enrolment: { partnerId: 'P-LIB-LYON', partnerName: 'Librairie des Canuts (Lyon)' },
    });
    // The gateway holds the key whose seed is in the file, and the keys written are the gateway's.
    const seed = readSeedFile(config.keyFile!);
    expect(b64url((await world.gateway.ledger.terminal('T-LIB-LYON-05'))!.publicKey)).toBe(b64url(publicKeyFromSeed(seed)));
    const keys = readPublicKeys(config.gatewayKeysFile!);
    expect(b64url(keys.signPublicKey)).toBe(b64url(world.gateway.keys.signPublicKey));

    const t = SimTerminal.start({
      terminalId: config.terminalId,
      seed,
      gatewayUrl: config.gatewayUrl,
      gateway: keys,
      outboxFile: config.outboxFile,
      benefits: config.benefits,
      cards: testBureau(world.gateway.keys.issuer, world.gateway.ledger),
      log: silentLogger,
    });
    try {
      await t.waitUntilUp();
      expect(await t.sellWithCard(holder('Léa Martin'), 'LEISURE_BOOKS', 700)).toMatchObject({ kind: 'approved' });
    } finally {
      await t.close();
    }
  });

  it('refuses a used, a wrong and an expired code with their stable codes, leaving the directory empty', async () => {
    const used = await code('T-LIB-LYON-06');
    await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: used, dir: freshDir() });
    const open = await code('T-LIB-LYON-08');
    const wrong = open.slice(0, 5) + (open[5] === 'A' ? 'B' : 'A') + open.slice(6);
    const expiring = await code('T-LIB-LYON-07', { ttlS: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    for (const [typed, expected] of [
      [used, 'ENROLMENT_CODE_USED'],
      [wrong, 'ENROLMENT_CODE_INVALID'],
      [expiring, 'ENROLMENT_CODE_EXPIRED'],
      ['ZZZZ-ZZZZ', 'ENROLMENT_CODE_INVALID'],
    ] as const) {
      const dir = freshDir();
      expect((await settledCode(enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: typed, dir }))), typed).toBe(expected);
      expect(existsSync(dir) ? readdirSync(dir) : [], typed).toEqual([]);
    }
  });

  it('prints, on the command line, what the technician needs in French: the terminal, its partner, the next command; a refusal with its code and French text', async () => {
    const dir = freshDir();
    const ok = await run(process.execPath, ['bin/passerelle.mjs', 'terminal', 'enrol', '--gateway', world.gateway.httpUrl, '--code', await code('T-LIB-LYON-09'), '--dir', dir, '--pad', '/dev/ttyUSB0']);
    expect(ok.stdout).toContain('Terminal T-LIB-LYON-09 installé pour Librairie des Canuts (Lyon) (P-LIB-LYON).');
    expect(ok.stdout).toContain(`Démarrer : passerelle terminal start -c ${join(dir, 'terminal.json')}`);
    expect((readJsonFile(join(dir, 'terminal.json')) as { devices: { pad: { path: string } } }).devices.pad.path).toBe('/dev/ttyUSB0');
    const refused = await run(process.execPath, ['bin/passerelle.mjs', 'terminal', 'enrol', '--gateway', world.gateway.httpUrl, '--code', 'ZZZZ-ZZZZ-ZZZZ-ZZZZ', '--dir', freshDir()]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain('ENROLMENT_CODE_INVALID (514)');
    expect(refused?.stderr).toContain("Code d'installation inconnu ou erroné");
  });

  it('re-enrolling a terminal id (a replaced device) gives it a new key and says so', async () => {
    const first = await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: await code('T-LIB-LYON-10'), dir: freshDir() });
    const second = await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: await code('T-LIB-LYON-10'), dir: freshDir() });
    expect([first.fields.replaced, second.fields.replaced]).toEqual([false, true]);
    expect(second.publicKey).not.toBe(first.publicKey);
    expect(b64url((await world.gateway.ledger.terminal('T-LIB-LYON-10'))!.publicKey)).toBe(second.publicKey);
  });

  it('never overwrites a terminal: a directory with a config, a key or an outbox is refused before anything is sent', async () => {
    for (const f of ['terminal.json', 'terminal.key', 'outbox.sqlite']) {
      const dir = freshDir();
      mkdirSync(dir);
      writeFileSync(join(dir, f), 'kept');
      const typed = await code(`T-LIB-LYON-${11 + ['terminal.json', 'terminal.key', 'outbox.sqlite'].indexOf(f)}`);
      expect((await settledCode(enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: typed, dir })))).toBe('TERMINAL_ALREADY_ENROLLED');
      expect(readdirSync(dir)).toEqual([f]);
      expect(readFileSync(join(dir, f), 'utf8')).toBe('kept');
      // Nothing was sent: the code still enrols.
      expect((await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: typed, dir: freshDir() })).fields.replaced).toBe(false);
    }
  });

  it('refuses an answer that did not come from the gateway that made the code, and a pinned key that differs; the key made is removed', async () => {
    // A man in the middle changes the partner's name in the signed fields: neither the signature nor the
    // MAC under the code can be made again without the gateway key and the code.
    const tamper: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const body = (await res.json()) as { signed: string };
      return new Response(JSON.stringify({ ...body, signed: body.signed.replace('Canuts', 'Canutz') }), { status: res.status, headers: { 'content-type': 'application/json' } });
    };
    const dir = freshDir();
    expect((await settledCode(enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: await code('T-LIB-LYON-20'), dir, fetch: tamper })))).toBe('ENROLMENT_ANSWER_INVALID');
    expect(readdirSync(dir)).toEqual([]);
    const pinnedElsewhere = b64url(new Uint8Array(32).fill(5));
    const dir2 = freshDir();
    expect((await settledCode(enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: await code('T-LIB-LYON-21'), dir: dir2, gatewayKey: pinnedElsewhere })))).toBe('ENROLMENT_ANSWER_INVALID');
    expect(readdirSync(dir2)).toEqual([]);
    // The right pin passes.
    const pinned = b64url(world.gateway.keys.signPublicKey);
    expect((await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: await code('T-LIB-LYON-22'), dir: freshDir(), gatewayKey: pinned })).fields.terminalId).toBe('T-LIB-LYON-22');
  });

  it('says GATEWAY_UNREACHABLE for no server, a server that is not a gateway, and an endless answer', async () => {
    const typed = await code('T-LIB-LYON-23');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const other = createServer((req, res) => {
      if (req.url?.startsWith('/huge')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < 1024 && res.write(chunk)) sent++;
          if (sent < 1024) res.once('drain', pump);
          else res.end();
        };
        pump();
      } else res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as AddressInfo).port;
    try {
      for (const url of [`http://127.0.0.1:${closedPort}`, `http://127.0.0.1:${port}`, `http://127.0.0.1:${port}/huge`]) {
        const dir = freshDir();
        expect((await settledCode(enrolTerminal({ gatewayUrl: url, code: typed, dir }))), url).toBe('GATEWAY_UNREACHABLE');
        expect(readdirSync(dir), url).toEqual([]);
      }
      expect((await settledCode(enrolTerminal({ gatewayUrl: 'ftp://x', code: typed, dir: freshDir() })))).toBe('CONFIG_INVALID');
    } finally {
      await new Promise((r) => other.close(r));
    }
    // None of that used the code.
    expect((await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: typed, dir: freshDir() })).fields.terminalId).toBe('T-LIB-LYON-23');
  });
});
