import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chipSeedOf, demoCard, readDemoChips } from '../gateway/demo-data.ts';
import { DEMO_CHIPS_FILE } from '../gateway/server.ts';
import { personaliseThroughApi } from '../simulators/api-card-bureau.ts';
import type { SimPassCard } from '../simulators/card.ts';
import { SimPadDevice } from '../simulators/pinpad.ts';
import { VpcdCard } from '../simulators/vpcd-card.ts';
import { startPcscd, waitUntil, type Pcscd } from './helpers/pcscd.ts';
import { startPtyPair, type PtyPair } from './helpers/pty.ts';
import { freePort } from '../simulators/engines.ts';

/**
 * The terminal as a product, with separate processes as in the field: a gateway (`passerelle gateway
 * start`); an operator makes an enrolment code through the API; `passerelle terminal enrol` in an empty
 * directory; `passerelle terminal start` on the real device stacks (a private pcscd with vsmartcard-vpcd,
 * the PIN pad on a socat pty). Sales go in through the service's loopback control endpoint. Then: SIGTERM
 * during a sale and a restart, exactly once in the ledger; the gateway gone and the service restarted while
 * offline (a cold start), a sale accepted offline, drained when the gateway is back; a re-enrolled
 * terminal id's old key refused.
 */

const TID = 'T-LIB-LYON-30';
const root = mkdtempSync(join(tmpdir(), 'passerelle-service-'));
const gatewayDir = join(root, 'gateway');
const terminalDir = join(root, 'terminal');
let pcscd: Pcscd;
let padPair: PtyPair;
let padPort: SerialPort;
let pad: SimPadDevice;
let mqttPort: number;
let httpPort: number;
let gateway: ChildProcess | undefined;
let service: Service | undefined;
let operator: string;
let card: SimPassCard;
const lea = demoCard('Léa Martin');

function cli(args: string[]): ChildProcess {
  return spawn(process.execPath, ['bin/passerelle.mjs', ...args], { env: { ...process.env, PCSCLITE_CSOCK_NAME: pcscd.socketPath }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

async function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
  const done = exited(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

async function startGateway(): Promise<void> {
  gateway = cli(['gateway', 'start', '--data-dir', gatewayDir, '--mqtt-port', String(mqttPort), '--http-port', String(httpPort)]);
  const end = Date.now() + 20_000;
  for (;;) {
    if (gateway.exitCode !== null) throw new Error(`the gateway exited with ${gateway.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    if (Date.now() > end) throw new Error('the gateway did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${operator}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

const enrolmentCode = async (terminalId = TID): Promise<string> => (await api('POST', '/enrolment-codes', { partnerId: 'P-LIB-LYON', terminalId })).json.code as string;

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = cli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await exited(child);
  return { code, stdout, stderr };
}

interface Service {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly control: { url: string; token: string };
}

async function startService(): Promise<Service> {
  const controlFile = join(terminalDir, 'control.json');
  const child = cli(['terminal', 'start', '-c', join(terminalDir, 'terminal.json')]);
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitUntil(() => child.exitCode !== null || (existsSync(controlFile) && (JSON.parse(readFileSync(controlFile, 'utf8')) as { pid: number }).pid === child.pid), 20_000, 'the control file');
  // The control file is written before the start is logged: on a busy machine the line comes after it.
  await waitUntil(() => child.exitCode !== null || lines.some((l) => l.msg === 'terminal service started'), 20_000, 'the start to be logged');
  if (child.exitCode !== null) throw new Error(`terminal start exited ${child.exitCode}: ${err}`);
  return { child, lines, control: JSON.parse(readFileSync(controlFile, 'utf8')) as Service['control'] };
}

async function control(s: Service, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${s.control.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.control.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

async function status(s: Service): Promise<any> {
  return (await control(s, 'GET', '/v1/status')).json;
}

async function until(s: Service, what: string, check: (st: any) => boolean, timeoutMs = 15_000): Promise<any> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const st = await status(s);
    if (check(st)) return st;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The card held on the reader until removed. */
async function present(): Promise<VpcdCard> {
  const v = new VpcdCard({ port: pcscd.vpcdPort, uid: card.uid, handler: (apdu) => card.handle(apdu), connectTimeoutMs: 8000 });
  await v.insert();
  return v;
}

async function balance(): Promise<number> {
  const r = await api('GET', `/cards/${lea.number}`);
  return (r.json.wallets as { benefit: string; balance: number }[]).find((w) => w.benefit === 'LEISURE_BOOKS')!.balance;
}

beforeAll(async () => {
  pcscd = await startPcscd();
  padPair = await startPtyPair();
  padPort = await new Promise<SerialPort>((resolve, reject) => {
    const p: SerialPort = new SerialPort({ path: padPair.padPath, baudRate: 115200 }, (e) => (e ? reject(e) : resolve(p)));
  });
  [mqttPort, httpPort] = [await freePort(), await freePort()];
  await startGateway();
  operator = (JSON.parse(readFileSync(join(gatewayDir, 'demo-tokens.json'), 'utf8')) as { operator: string }).operator;
  const seed = chipSeedOf(readDemoChips(join(gatewayDir, DEMO_CHIPS_FILE)))(lea.number)!;
  card = await personaliseThroughApi({ httpUrl: `http://127.0.0.1:${httpPort}`, token: operator, cardNumber: lea.number, chipSeed: seed });
  pad = new SimPadDevice(padPort, { gatewayBoxPublicKey: new Uint8Array(32) });
}, 60_000);

afterAll(async () => {
  await stop(service?.child);
  await stop(gateway);
  pad?.detach();
  if (padPort?.isOpen) await new Promise((r) => padPort.close(r));
  await padPair?.stop();
  await pcscd?.dispose();
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('the terminal service, enrolled and run as separate processes on real device stacks', () => {
  it('enrols in an empty directory and sells by NFC through the control endpoint; logs are JSON lines', async () => {
    const enrolled = await run(['terminal', 'enrol', '--gateway', `http://127.0.0.1:${httpPort}`, '--code', await enrolmentCode(), '--dir', terminalDir, '--pad', padPair.terminalPath]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain(`Terminal ${TID} installé pour Librairie des Canuts (Lyon)`);
    // The technician's settings for this site: a short reply timeout, a control port chosen by the system.
    const configFile = join(terminalDir, 'terminal.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(configFile, JSON.stringify({ ...config, replyTimeoutMs: 1500, backoffBaseMs: 50, backoffMaxMs: 500, heartbeatS: 1, control: { port: 0 } }, null, 2));

    service = await startService();
    const started = service.lines.find((l) => l.msg === 'terminal service started');
    expect(started).toMatchObject({ terminalId: TID, partner: 'Librairie des Canuts (Lyon)', devices: { nfc: 'ok', pad: 'ok', qr: 'none' } });
    await until(service, 'the link', (st) => st.link.state === 'online');
    // Without the boot's secret, or from another Host, nothing is sold.
    expect((await fetch(`${service.control.url}/v1/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"benefit":"LEISURE_BOOKS","amount":100}' })).status).toBe(401);
    const before = await balance();
    const sale = control(service, 'POST', '/v1/sales', { benefit: 'LEISURE_BOOKS', amount: 300 });
    await until(service, 'the sale screen', (st) => st.state === 'awaitingCredential');
    // One sale at a time: a second one while this one waits for the card is refused, this one goes on.
    const second = await control(service, 'POST', '/v1/sales', { benefit: 'LEISURE_BOOKS', amount: 100 });
    expect([second.status, second.json.error]).toEqual([409, expect.objectContaining({ code: 'SALE_IN_PROGRESS', fr: 'Une vente est déjà en cours' })]);
    const v = await present();
    const answer = await sale;
    await v.remove();
    expect(answer.status).toBe(200);
    expect(answer.json.outcome).toMatchObject({ kind: 'approved', reply: { taken: 300 } });
    expect(await balance()).toBe(before - 300);
    // A bad body, a benefit this terminal does not offer, another Host (DNS rebinding): refused.
    expect((await control(service, 'POST', '/v1/sales', { benefit: 'LEISURE_BOOKS', amount: -1 })).json.error.code).toBe('BAD_SCHEMA');
    expect((await control(service, 'POST', '/v1/sales', { benefit: 'SPORT', amount: 100 })).json.error.code).toBe('BENEFIT_NOT_ALLOWED');
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(`${service!.control.url}/v1/status`, { headers: { host: 'evil.example', authorization: `Bearer ${service!.control.token}` } }, (res) => resolve(res.statusCode ?? 0));
      req.once('error', reject);
      req.end();
    });
    expect(rebound).toBe(403);
    expect(service.lines.some((l) => l.msg === 'sale finished' && l.outcome === 'approved')).toBe(true);
    expect(JSON.stringify(service.lines)).not.toContain(lea.number);
    // Its heartbeat shows it in the Region's fleet view, with the sale and its devices.
    const end = Date.now() + 15_000;
    let seen: any;
    while (Date.now() < end) {
      seen = ((await api('GET', '/fleet?partnerId=P-LIB-LYON')).json as any[]).find((t) => t.terminalId === TID);
      if (seen?.lastSaleAt) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen).toMatchObject({ state: 'online', software: expect.any(String), lastSaleAt: expect.any(String), queue: { pending: 0 }, devices: { nfc: 'ok', pad: 'ok', qr: 'none' } });
  }, 60_000);

  it('settings set at the gateway reach the running service, apply whole, and come back in its heartbeat', async () => {
    const put = await api('PUT', `/terminals/${TID}/settings`, { benefits: ['LEISURE_BOOKS'], replyTimeoutMs: 1500, heartbeatS: 1 });
    expect(put.status).toBe(200);
    const st = await until(service!, 'the settings applied', (s) => s.settingsVersion === 1);
    expect(st.benefits).toEqual(['LEISURE_BOOKS']);
    expect((await control(service!, 'POST', '/v1/sales', { benefit: 'SCHOOL_BOOKS', amount: 100 })).json.error.code).toBe('BENEFIT_NOT_ALLOWED');
    const end = Date.now() + 15_000;
    let inForce: unknown;
    while (Date.now() < end && inForce !== 1) {
      inForce = (await api('GET', `/terminals/${TID}/settings`)).json.inForce;
      if (inForce !== 1) await new Promise((r) => setTimeout(r, 200));
    }
    expect(inForce).toBe(1);
  }, 30_000);

  it('SIGTERM during a sale waiting for its reply: the sale finishes (voided, accepted offline), the service exits 0, and after a restart the ledger holds it once', async () => {
    const s = service!;
    const before = await balance();
    // The gateway freezes: the request is committed on the terminal and waits for its reply.
    gateway!.kill('SIGSTOP');
    try {
      const sale = control(s, 'POST', '/v1/sales', { benefit: 'LEISURE_BOOKS', amount: 200 });
      await until(s, 'the sale screen', (st) => st.state === 'awaitingCredential');
      const v = await present();
      await until(s, 'the request sent', (st) => st.state === 'awaitingReply');
      const exit = exited(s.child);
      s.child.kill('SIGTERM');
      const answer = await sale;
      await v.remove();
      expect(answer.json.outcome).toMatchObject({ kind: 'offline' });
      expect(await exit).toBe(0);
      expect(s.lines.some((l) => l.msg === 'terminal service stopped; the queue is kept' && (l.pending as number) >= 2)).toBe(true);
    } finally {
      gateway!.kill('SIGCONT');
    }
    service = await startService();
    await until(service, 'the queue drained', (st) => st.link.state === 'online' && st.outbox.pending === 0, 20_000);
    // The voided online request and the offline sale: 200 taken once.
    expect(await balance()).toBe(before - 200);
  }, 60_000);

  it('SIGTERM while a sale waits for the card: the sale is cancelled, nothing recorded, the service exits 0', async () => {
    const s = service!;
    const pending = (await status(s)).outbox.pending;
    const sale = control(s, 'POST', '/v1/sales', { benefit: 'LEISURE_BOOKS', amount: 500 });
    await until(s, 'the sale screen', (st) => st.state === 'awaitingCredential');
    const exit = exited(s.child);
    s.child.kill('SIGTERM');
    expect((await sale).json.outcome).toMatchObject({ kind: 'cancelled', code: 'SALE_CANCELLED' });
    expect(await exit).toBe(0);
    service = await startService();
    expect((await status(service)).outbox.pending).toBe(pending);
  }, 30_000);

  it('restarted while the gateway is gone (a cold start offline): sells offline, drains when the gateway is back', async () => {
    const before = await balance();
    await stop(gateway);
    await until(service!, 'the link down', (st) => st.link.state === 'offline');
    expect(await stop(service!.child)).toBe(0);
    service = await startService();
    expect((await status(service)).link.state).toBe('offline');
    const sale = control(service, 'POST', '/v1/sales', { benefit: 'LEISURE_BOOKS', amount: 150 });
    await until(service, 'the sale screen', (st) => st.state === 'awaitingCredential');
    const v = await present();
    const answer = await sale;
    await v.remove();
    expect(answer.json.outcome).toMatchObject({ kind: 'offline' });
    expect((await status(service)).outbox.pending).toBe(1);
    await startGateway();
    await until(service, 'the queue drained', (st) => st.link.state === 'online' && st.outbox.pending === 0, 30_000);
    expect(await balance()).toBe(before - 150);
  }, 90_000);

  it('a used, a wrong and an expired code are each refused on the technician\'s screen with their code and French text', async () => {
    let n = 0;
    const enrol = (code: string) => run(['terminal', 'enrol', '--gateway', `http://127.0.0.1:${httpPort}`, '--code', code, '--dir', join(root, `other-${++n}`)]);
    // Codes for another terminal of the same partner: this one keeps its key.
    const fresh = await enrolmentCode('T-LIB-LYON-32');
    const used = await enrol(fresh);
    expect(used.code).toBe(0);
    const wrongOf = async () => {
      const c = await enrolmentCode('T-LIB-LYON-32');
      return c.slice(0, 5) + (c[5] === 'A' ? 'B' : 'A') + c.slice(6);
    };
    const expiring = (await api('POST', '/enrolment-codes', { partnerId: 'P-LIB-LYON', terminalId: 'T-LIB-LYON-31', ttlS: 1 })).json.code as string;
    await new Promise((r) => setTimeout(r, 1100));
    for (const [code, expected, fr] of [
      [fresh, 'ENROLMENT_CODE_USED (515)', "Code d'installation déjà utilisé"],
      [await wrongOf(), 'ENROLMENT_CODE_INVALID (514)', "Code d'installation inconnu ou erroné"],
      [expiring, 'ENROLMENT_CODE_EXPIRED (516)', "Code d'installation expiré"],
    ] as const) {
      const r = await enrol(code);
      expect(r.code, code).toBe(1);
      expect(r.stderr).toContain(expected);
      expect(r.stderr).toContain(fr);
      expect(existsSync(join(root, `other-${n}`, 'terminal.key'))).toBe(false);
    }
  }, 40_000);

  it("a re-enrolled terminal id's old key is refused at once: the running service is cut off and says so", async () => {
    const again = await run(['terminal', 'enrol', '--gateway', `http://127.0.0.1:${httpPort}`, '--code', await enrolmentCode(), '--dir', join(root, 'replacement')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("Il remplace l'appareil précédent");
    await until(service!, 'the refusal', (st) => st.link.state === 'refused', 20_000);
  }, 40_000);
});
