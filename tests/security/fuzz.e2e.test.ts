import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../common/random.ts';
import { SqliteLedger } from '../../gateway/ledger/sqlite.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { saleProofMessage } from '../../protocol/card-app.ts';
import { makeConnectToken } from '../../protocol/connect-token.ts';
import { fromB64url, nodeSigner } from '../../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../../protocol/debit.ts';
import { encodeDirect } from '../../protocol/frame.ts';
import { requestTopic } from '../../protocol/topics.ts';
import { debitBody } from '../helpers/debits.ts';
import { fixedHeader } from '../helpers/mqtt-bytes.ts';
import { freshClaims, RawTerminal } from '../helpers/raw-terminal.ts';
import { holder } from '../helpers/world.ts';
import { exited, startChild } from '../offline/oracle.ts';

/**
 * Hostile input at every door, in bulk: 10,000 MQTT packets before authentication (garbage, lying
 * lengths, malformed and forged CONNECTs), 10,000 after it (requests of every wrong shape, foreign topics,
 * wildcard subscriptions, packets of every type), and 10,000 HTTP requests (every route, wrong methods,
 * wrong tokens, wrong bodies, garbage). The gateway runs in its own process, with its rate limits and
 * failed-connect throttle opened wide so the input reaches the code behind them; its memory (RSS) is
 * sampled from outside. Afterwards it still serves a sale, its memory stayed within the bound, and the
 * ledger's audit is clean. The seed is printed; PASSERELLE_FUZZ_SEED replays a run.
 */

const PACKETS = 10_000;
const HTTP_REQUESTS = 10_000;
/** The bound stated in docs/security.md: the gateway's RSS never grows by more than this during the run. */
const RSS_GROWTH_BOUND_MB = 128;
const T = 'T-LIB-LYON-01';

const seed = Number(process.env.PASSERELLE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const rnd = mulberry32(seed);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

const dir = mkdtempSync(join(tmpdir(), 'passerelle-fuzz-'));
let child: ChildProcess;
let ports: { mqttPort: number; httpPort: number };
let tokens: { operator: string; technician: string; partner: string };
let seedOf: (id: string) => string;
const rss: number[] = [];
let sampler: NodeJS.Timeout;

function rssMb(): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

beforeAll(async () => {
  console.log(`fuzz run: seed ${seed} (replay with PASSERELLE_FUZZ_SEED=${seed})`);
  const overrides = {
    mqtt: { failedConnects: { points: 100_000, durationS: 60, blockS: 1 }, maxPendingConnectsPerAddress: 10_000 },
    http: { rateLimit: { perMinute: 1_000_000, anonymousPerMinute: 1_000_000 } },
    rules: { expirySweepS: 0 },
  };
  child = await startChild('tests/security/gateway-child.ts', { PASSERELLE_CHILD: JSON.stringify({ dataDir: dir, overrides }) });
  ports = JSON.parse(readFileSync(join(dir, 'ports.json'), 'utf8')) as typeof ports;
  tokens = JSON.parse(readFileSync(join(dir, 'demo-tokens.json'), 'utf8')) as typeof tokens;
  const terminals = JSON.parse(readFileSync(join(dir, 'demo-terminals.json'), 'utf8')) as { terminalId: string; seed: string }[];
  seedOf = (id) => terminals.find((t) => t.terminalId === id)!.seed;
  await new Promise((r) => setTimeout(r, 500));
  rss.push(rssMb());
  sampler = setInterval(() => rss.push(rssMb()), 200);
}, 30_000);

afterAll(async () => {
  clearInterval(sampler);
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await exited(child, 20_000);
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Write packets on a fresh socket, then close it; resolves when the socket is gone (the broker may cut it first). */
function onSocket(packets: readonly Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = tcpConnect({ host: '127.0.0.1', port: ports.mqttPort });
    const done = () => resolve();
    s.on('error', () => undefined);
    s.on('close', done);
    s.on('connect', () => {
      for (const p of packets) if (!s.destroyed) s.write(p);
      setTimeout(() => s.destroy(), 20);
    });
  });
}

/** A fixed header with random flags. */
const header = (type: number, length: number) => fixedHeader(type, length, int(16));

const TERMINALS = ['T-LIB-LYON-01', 'T-LIB-LYON-02', 'T-CIN-VBN-01', 'T-NOBODY-99', 'x', '#', '+', '$SYS', ''];

function connectPacket(): Buffer {
  const id = pick(TERMINALS);
  const password = pick([
    () => bytes(int(120)),
    () => Buffer.from(makeConnectToken(id || 'X', nodeSigner(bytes(32)), freshClaims(`fuzz-${id}`))),
    () => Buffer.from(`2.${int(1e15)}.${int(10)}.${'A'.repeat(86)}`),
    () => Buffer.from(makeConnectToken(T, nodeSigner(fromB64url(seedOf(T), 32, 'seed')), { ms: Date.now() - 3_600_000, head: 0 })),
  ])();
  const fields = { cmd: 'connect' as const, protocolId: pick(['MQTT', 'MQIsdp', 'XYZ']), protocolVersion: pick([3, 4, 5, 4, 4]), clean: rnd() < 0.8, keepalive: int(70_000) % 65_536, clientId: id, username: pick([id, 'admin', '']), password };
  let p: Buffer;
  try {
    p = mqttPacket.generate(fields as Parameters<typeof mqttPacket.generate>[0]);
  } catch {
    p = bytes(30);
  }
  // Now and then a few bytes flipped.
  if (rnd() < 0.3) for (let i = 0; i < 1 + int(4); i++) p[int(p.length)] = int(256);
  return p;
}

function preAuthPacket(): Buffer {
  switch (int(5)) {
    case 0:
      return bytes(1 + int(200));
    case 1:
      return Buffer.concat([header(int(16), pick([0, 10, 1000, 70_000, 2 ** 27, 250 * 1024 * 1024])), bytes(int(100))]);
    case 2:
    case 3:
      return connectPacket();
    default:
      return Buffer.concat([header(pick([3, 8, 12, 14]), 5), bytes(5)]);
  }
}

/** A request frame of a wrong shape, but signed with the terminal's own key (so it passes the signature check). */
function hostileRequest(signer: ReturnType<typeof nodeSigner>, n: number): Buffer {
  const lea = holder('Léa Martin');
  const body = debitBody({ terminalId: T, cardNumber: lea.cardNumber, benefit: 'LEISURE_BOOKS', amount: 1 + int(3000), seq: 100_000 + n, createdAt: Date.now() });
  const mutations: (() => unknown)[] = [
    () => ({ ...body, amount: pick([-1, 0, 1.5, 1e308, '12', null]) }),
    () => ({ ...body, credential: { kind: pick(['nfc', 'qr', 'x']), cardNumber: pick([lea.cardNumber, cardNumberFrom(`9${String(int(1e14)).padStart(14, '0')}`), '1234', '']) } }),
    () => ({ ...body, terminalId: pick(['T-LIB-LYON-02', 'X', '']) }),
    () => ({ ...body, mode: 'offline', createdAt: pick([0, Date.now() - 5 * 86_400_000, Date.now() + 86_400_000]), policy: int(3), hotlist: int(1e6) }),
    () => ({ ...body, benefit: pick(['CINEMA', 'MUSEUM', 'NOPE']), unit: pick(['cent', 'entry', 'kg']) }),
    () => ({ ...body, seq: pick([0, -1, 1, 2 ** 53]), prev: pick(['x', 'A'.repeat(43)]) }),
    () => ({ ...body, extra: 'x'.repeat(int(2000)) }),
    () => body,
  ];
  const envelope = rnd() < 0.9 ? { ...debitRequest(body), body: pick(mutations)() } : { v: pick([1, 2]), type: pick(['debit.void', 'debit.request', 'x']), corr: body.txnId, body: pick(mutations)() };
  const message = encodeJson(envelope);
  return encodeDirect(message, signer.sign(message));
}

function postAuthPacket(signer: ReturnType<typeof nodeSigner>, n: number, messageId: number): Buffer {
  const own = requestTopic(T);
  switch (int(9)) {
    case 0:
    case 1:
    case 2:
      return mqttPacket.generate({ cmd: 'publish', topic: own, payload: hostileRequest(signer, n), qos: pick([0, 1] as const), messageId, retain: false, dup: false });
    case 3:
      return mqttPacket.generate({ cmd: 'publish', topic: own, payload: pick([bytes(int(300)), Buffer.from('S1.' + 'A'.repeat(86) + '.{}'), Buffer.alloc(16 * 1024 + int(3000), 0x7b)]), qos: 1, messageId, retain: false, dup: false });
    case 4:
      return mqttPacket.generate({ cmd: 'publish', topic: pick([requestTopic('T-LIB-LYON-02'), 'passerelle/v1/offline/hotlist', '$SYS/x', '#', 'a/b']), payload: bytes(20), qos: 1, messageId, retain: rnd() < 0.5, dup: false });
    case 5:
      return mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: pick(['#', '+/+/#', '$SYS/#', 'passerelle/v1/terminal/+/reply', 'passerelle/v1/terminal/T-LIB-LYON-02/reply', 'passerelle/v1/offline/policy']), qos: pick([0, 1, 2] as const) }] });
    case 6:
      return mqttPacket.generate({ cmd: pick(['pingreq', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'unsubscribe'] as const), messageId, unsubscriptions: ['#'] } as Parameters<typeof mqttPacket.generate>[0]);
    case 7:
      return connectPacket();
    default:
      return Buffer.concat([header(int(16), int(300)), bytes(int(300))]);
  }
}

/** An authenticated raw session: a valid CONNECT, then whatever the fuzzer sends, until the broker cuts it. */
function authenticatedSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const signer = nodeSigner(fromB64url(seedOf(T), 32, 'seed'));
    const s = tcpConnect({ host: '127.0.0.1', port: ports.mqttPort });
    s.on('error', () => undefined);
    s.once('connect', () => {
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: T, username: T, password: Buffer.from(makeConnectToken(T, signer, freshClaims(T))) }));
    });
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < 4) return;
      s.off('data', onData);
      if (got[0] === 0x20 && got[3] === 0) resolve(s);
      else reject(new Error(`CONNACK refused: ${got.toString('hex')}`));
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

describe('fuzz: hostile input at every door', () => {
  it(`${PACKETS} MQTT packets before authentication`, async () => {
    let sent = 0;
    const lanes = Array.from({ length: 16 }, async () => {
      while (sent < PACKETS) {
        const packets = Array.from({ length: 1 + int(5) }, preAuthPacket);
        sent += packets.length;
        await onSocket(packets);
      }
    });
    await Promise.all(lanes);
    expect(sent).toBeGreaterThanOrEqual(PACKETS);
    expect(child.exitCode).toBeNull();
  }, 180_000);

  it(`${PACKETS} MQTT packets after authentication`, async () => {
    const signer = nodeSigner(fromB64url(seedOf(T), 32, 'seed'));
    let sent = 0;
    let sessions = 0;
    while (sent < PACKETS) {
      const s = await authenticatedSocket();
      sessions++;
      s.on('data', () => undefined);
      for (let i = 0; i < 200 && sent < PACKETS && !s.destroyed; i++) {
        s.write(postAuthPacket(signer, sent, 1 + (sent % 65_000)));
        sent++;
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 5));
      s.destroy();
    }
    console.log(`fuzz: ${sent} packets after authentication in ${sessions} sessions`);
    expect(child.exitCode).toBeNull();
  }, 300_000);

  it(`${HTTP_REQUESTS} HTTP requests`, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const card = holder('Léa Martin').cardNumber;
    const paths = [
      '/healthz', '/docs', '/docs/json', '/nope', '/api/v1/partners', `/api/v1/cards/${card}`, `/api/v1/cards/${card}/history?limit=${int(2000)}`, '/api/v1/cards/../../etc/passwd',
      '/api/v1/terminals', '/api/v1/terminals/T-LIB-LYON-01/deactivate', '/api/v1/enrolments', '/api/v1/enrolment-codes', '/api/v1/group-sales', '/api/v1/group-lists',
      '/api/v1/tokens', '/api/v1/statements', '/api/v1/statement-runs', '/api/v1/sepa-exports', '/api/v1/bulk-loads', '/api/v1/offline/report', '/api/v1/audit?limit=x', `/api/v1/cards/${card}/credential`,
      `/api/v1/cards/${card}/opposition`, '/api/v1/campaigns', '/api/v1/sales/x/cancel', `/api/v1/${'a'.repeat(5000)}`, '/%00', '/api/v1/cards/%ZZ',
    ];
    const bodies: (() => string | Buffer)[] = [
      () => '{',
      () => JSON.stringify({ cardPublicKey: 'A'.repeat(43), expiry: '2099-12-31', replace: rnd() < 0.5 }),
      () => JSON.stringify({ code: 'AAAA-BBBB-CCCC-DDDD', publicKey: 'B'.repeat(43) }),
      () => JSON.stringify({ groupId: 'G-1', listId: 'GL-0000000000AB', benefit: 'SHOWS', amountPerYouth: int(1e9), cardNumbers: [card], reference: 'x' }),
      () => JSON.stringify({ id: 'T-X-01', partnerId: 'P-LIB-LYON', publicKey: 'C'.repeat(43) }),
      () => JSON.stringify({ name: 'x', role: pick(['operator', 'root']), partnerId: 'P-LIB-LYON' }),
      () => JSON.stringify(JSON.parse('['.repeat(500) + ']'.repeat(500))),
      () => JSON.stringify({ __proto__: { admin: true }, constructor: { prototype: { x: 1 } } }),
      () => bytes(int(4000)),
      () => 'card_number;dossier_id\n' + `${card};D\n`.repeat(int(50)),
      () => '',
    ];
    const auth = () => pick([`Bearer ${tokens.operator}`, `Bearer ${tokens.partner}`, `Bearer ${tokens.technician}`, 'Bearer psr_' + 'x'.repeat(43), 'Basic YWRtaW46YWRtaW4=', 'Bearer ' + 'y'.repeat(3000), undefined]);
    let done = 0;
    let statuses = new Map<number, number>();
    const errors = new Map<string, number>();
    const one = () =>
      new Promise<void>((resolve) => {
        const body = rnd() < 0.6 ? pick(bodies)() : undefined;
        const a = auth();
        const headers: Record<string, string> = {
          ...(a ? { authorization: a } : {}),
          ...(body !== undefined ? { 'content-type': pick(['application/json', 'text/csv', 'text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=latin1']) } : {}),
        };
        const req = request({ host: '127.0.0.1', port: ports.httpPort, method: pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']), path: pick(paths), headers, agent, timeout: 10_000 }, (res) => {
          statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
          res.resume();
          res.on('end', () => resolve());
          res.on('error', () => resolve());
        });
        req.on('error', (e: NodeJS.ErrnoException) => {
          const k = `error ${e.code ?? e.message}`;
          errors.set(k, (errors.get(k) ?? 0) + 1);
          resolve();
        });
        req.on('timeout', () => req.destroy());
        if (body !== undefined) req.write(body);
        req.end();
      });
    const lanes = Array.from({ length: 16 }, async () => {
      while (done < HTTP_REQUESTS) {
        done++;
        await one();
      }
    });
    await Promise.all(lanes);
    agent.destroy();
    console.log('fuzz: HTTP statuses', Object.fromEntries([...statuses.entries()].sort((a, b) => a[0] - b[0])), 'client-side errors', Object.fromEntries(errors));
    expect(statuses.get(500) ?? 0).toBe(0);
    expect(child.exitCode).toBeNull();
    statuses = new Map();
  }, 300_000);

  it('afterwards: the gateway serves a sale, its memory stayed bounded, and the ledger audit is clean', async () => {
    const health = await fetch(`http://127.0.0.1:${ports.httpPort}/healthz`);
    expect(health.status).toBe(200);
    const raw = await RawTerminal.connect(`mqtt://127.0.0.1:${ports.mqttPort}`, 'T-JUDO-GRE-01', seedOf('T-JUDO-GRE-01'), fromB64url((JSON.parse(readFileSync(join(dir, 'gateway-public.json'), 'utf8')) as { signPublicKey: string }).signPublicKey, 32, 'key'));
    const ines = holder('Inès Petit');
    // The child's ledger knows the demo cards' chips (demo-cards.json): the card signs the sale with its own.
    const chips = JSON.parse(readFileSync(join(dir, 'demo-cards.json'), 'utf8')) as { cardNumber: string; seed: string }[];
    const chip = nodeSigner(fromB64url(chips.find((c) => c.cardNumber === ines.cardNumber)!.seed, 32, 'chip'));
    const b = debitBody({ terminalId: 'T-JUDO-GRE-01', cardNumber: ines.cardNumber, benefit: 'SPORT', amount: 100, seq: 1, createdAt: Date.now() });
    const at = Date.now();
    const sig = Buffer.from(chip.sign(saleProofMessage({ ref: b.txnId, terminalId: b.terminalId, benefit: b.benefit, amount: b.amount, unit: b.unit, at }))).toString('base64url');
    const reply = await raw.send({ ...b, credential: { kind: 'nfc', cardNumber: ines.cardNumber, proof: { ref: b.txnId, at, sig } } });
    expect(reply).toMatchObject({ type: 'debit.reply', body: { status: 'approved' } });
    await raw.close();
    clearInterval(sampler);
    const base = rss[0]!;
    const peak = Math.max(...rss);
    console.log(`fuzz: gateway RSS ${base.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB, last ${rss.at(-1)!.toFixed(0)} MB (bound: +${RSS_GROWTH_BOUND_MB} MB)`);
    expect(peak - base).toBeLessThan(RSS_GROWTH_BOUND_MB);
    child.kill('SIGTERM');
    expect(await exited(child, 20_000)).toBe(0);
    const ledger = new SqliteLedger({ file: join(dir, 'ledger.sqlite') });
    try {
      expect(await ledger.audit()).toEqual([]);
    } finally {
      await ledger.close();
    }
  }, 60_000);
});
