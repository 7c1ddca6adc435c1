import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { mulberry32 } from '../../common/random.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import type { Outcome } from '../sale.ts';
import { parseRecords } from './records.ts';
import { TillServer } from './server.ts';

/**
 * The till link over real TCP on 127.0.0.1, with the sale behind it played by the test: one sale at a
 * time, a till that leaves mid-sale and asks for its result, malformed and fuzzed messages, addresses not
 * allowed, bounded messages.
 */

const DEBIT = 'CZ0040300CJ012012345678901CA00201CE003978CD0010CB0041250';

interface Pending {
  benefit: string;
  amount: number;
  finish(o: Outcome): void;
  fail(e: Error): void;
}

let servers: TillServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.close();
  servers = [];
});

async function start(allow = ['127.0.0.1']) {
  const pending: Pending[] = [];
  const server = await TillServer.start(
    {
      offered: () => ['LEISURE_BOOKS', 'SCHOOL_BOOKS'],
      sale: (benefit, amount) => {
        if (pending.some((p) => p.finish !== undefined && !('done' in p))) return Promise.reject(new PasserelleError('SALE_IN_PROGRESS'));
        return new Promise<Outcome>((resolve, reject) => {
          const p: Pending = { benefit, amount, finish: (o) => (Object.assign(p, { done: true }), resolve(o)), fail: (e) => (Object.assign(p, { done: true }), reject(e)) };
          pending.push(p);
        });
      },
    },
    { host: '127.0.0.1', port: 0, allow, benefit: 'LEISURE_BOOKS', log: silentLogger, idleMs: 20, incompleteMs: 300 },
  );
  servers.push(server);
  return { server, pending };
}

function till(port: number): Promise<Socket & { answers: string[]; next(): Promise<Map<string, string>> }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1') as Socket & { answers: string[]; next(): Promise<Map<string, string>> };
    s.setEncoding('latin1');
    s.answers = [];
    const waiters: ((m: Map<string, string>) => void)[] = [];
    s.on('data', (d: string) => {
      const m = new Map(parseRecords(d));
      const w = waiters.shift();
      if (w) w(m);
      else s.answers.push(d);
    });
    s.next = () =>
      new Promise((r, j) => {
        const queued = s.answers.shift();
        if (queued !== undefined) return r(new Map(parseRecords(queued)));
        const t = setTimeout(() => j(new Error('no answer')), 3000);
        waiters.push((m) => (clearTimeout(t), r(m)));
      });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

const approved = (amount: number): Outcome => ({
  kind: 'approved',
  txnId: 'txn-1',
  reply: { txnId: 'txn-1', terminalId: 'T-1', status: 'approved', benefit: 'LEISURE_BOOKS', unit: 'cent', requested: amount, taken: Math.min(amount, 1000), remainingToPay: Math.max(0, amount - 1000), decidedAt: 0, mode: 'online' },
});

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe('the till link', () => {
  it('sells what the till asks and answers with the amount taken; a partial debit names the rest', async () => {
    const { server, pending } = await start();
    const t = await till(server.port);
    t.write(DEBIT);
    await until(() => pending.length === 1);
    expect(pending[0]).toMatchObject({ benefit: 'LEISURE_BOOKS', amount: 1250 });
    pending[0]!.finish(approved(1250));
    const a = await t.next();
    expect(Object.fromEntries(a)).toEqual({ CZ: '0300', CJ: '012345678901', CA: '01', CD: '0', CE: '978', AE: '10', CB: '1000', ZR: '250', ZS: 'approved', ZT: 'txn-1' });
    t.destroy();
  });

  it('takes a message split across writes, and refuses a second sale while one runs', async () => {
    const { server, pending } = await start();
    const a = await till(server.port);
    a.write(DEBIT.slice(0, 13));
    await new Promise((r) => setTimeout(r, 50));
    a.write(DEBIT.slice(13));
    await until(() => pending.length === 1);
    const b = await till(server.port);
    b.write(DEBIT.replace('CA00201', 'CA00202'));
    const busy = await b.next();
    expect([busy.get('AE'), busy.get('AF'), busy.get('ZE'), busy.get('ZM')]).toEqual(['01', '05', 'SALE_IN_PROGRESS', 'Une vente est deja en cours']);
    pending[0]!.finish(approved(500));
    expect((await a.next()).get('AE')).toBe('10');
    a.destroy();
    b.destroy();
  });

  it('keeps the result of a sale whose till left, for the till to ask (ZQ 1); BA 1 acknowledges at once', async () => {
    const { server, pending } = await start();
    const gone = await till(server.port);
    gone.write(DEBIT);
    await until(() => pending.length === 1);
    gone.destroy();
    const back = await till(server.port);
    back.write('CZ0040300CJ012012345678901CA00201ZQ0011');
    expect((await back.next()).get('AE')).toBe('11');
    pending[0]!.finish(approved(1250));
    await new Promise((r) => setTimeout(r, 20));
    back.write('CZ0040300CJ012012345678901CA00201ZQ0011');
    expect(Object.fromEntries(await back.next())).toMatchObject({ ZQ: '1', AE: '10', CB: '1000', ZR: '250', ZT: 'txn-1' });
    // Another till has no result to ask for.
    back.write('CZ0040300CJ0019CA00201ZQ0011');
    expect((await back.next()).get('ZE')).toBe('SALE_UNKNOWN');
    back.write(DEBIT + 'BA0011');
    expect((await back.next()).get('AE')).toBe('11');
    await until(() => pending.length === 2);
    pending[1]!.finish(approved(300));
    back.destroy();
  });

  it('answers a malformed message with the format status and stays usable; fuzz never breaks it', async () => {
    const { server, pending } = await start();
    const t = await till(server.port);
    t.write('CZ0040300CB0xx12');
    const bad = await t.next();
    expect([bad.get('AE'), bad.get('AF'), bad.get('ZE')]).toEqual(['01', '09', 'BAD_SCHEMA']);
    t.write('hello');
    expect((await t.next()).get('AF')).toBe('09');
    // A version that is not printable is not echoed back (the answer would not be a valid message).
    t.write('CZ004\x01abcCJ0011');
    expect(Object.fromEntries(await t.next())).toMatchObject({ CZ: '0300', AE: '01', AF: '09' });
    const random = mulberry32(42);
    for (let i = 0; i < 200; i++) {
      const f = await till(server.port);
      const n = Math.floor(random() * 300);
      const bytes = Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
      // Half the time, a valid start followed by noise.
      f.write(random() < 0.5 ? Buffer.concat([Buffer.from('CZ0040300CJ0011CA00201'), bytes]) : bytes);
      f.end();
      await new Promise((r) => f.once('close', r));
    }
    t.write(DEBIT);
    await until(() => pending.length === 1);
    pending[0]!.finish(approved(100));
    expect((await t.next()).get('AE')).toBe('10');
    expect(server.stats.malformed).toBeGreaterThan(100);
    t.destroy();
  });

  it('answers a till that closed its side after writing, once its sale is done', async () => {
    const { server, pending } = await start();
    const t = await till(server.port);
    t.end(DEBIT);
    await until(() => pending.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    pending[0]!.finish(approved(1250));
    expect((await t.next()).get('AE')).toBe('10');
  });

  it('waits for optional tags sent in a later segment: a split request is sold on the benefit it names', async () => {
    const { server, pending } = await start();
    const t = await till(server.port);
    t.write(DEBIT);
    await new Promise((r) => setTimeout(r, 10));
    t.write('ZB012SCHOOL_BOOKS');
    await until(() => pending.length === 1);
    expect(pending[0]).toMatchObject({ benefit: 'SCHOOL_BOOKS', amount: 1250 });
    pending[0]!.finish(approved(1250));
    expect((await t.next()).get('AE')).toBe('10');
    t.destroy();
  });

  it('a BA 1 request refused before its sale starts leaves the refusal as the last result, never an older approval', async () => {
    const { server, pending } = await start();
    const t = await till(server.port);
    t.write(DEBIT);
    await until(() => pending.length === 1);
    pending[0]!.finish(approved(1250));
    expect((await t.next()).get('AE')).toBe('10');
    // Another sale runs on the terminal (the cashier's page): the service refuses this one.
    const occupied = pending.length;
    pending.push({ benefit: 'LEISURE_BOOKS', amount: 1, finish: () => undefined, fail: () => undefined });
    t.write(DEBIT + 'BA0011');
    expect((await t.next()).get('AE')).toBe('11');
    await new Promise((r) => setTimeout(r, 20));
    t.write('CZ0040300CJ012012345678901CA00201ZQ0011');
    const last = await t.next();
    expect([last.get('AE'), last.get('ZE')]).toEqual(['01', 'SALE_IN_PROGRESS']);
    expect(pending.length).toBe(occupied + 1);
    t.destroy();
  });

  it('closes a message past its bound, and a till whose address is not allowed', async () => {
    const { server } = await start();
    const t = await till(server.port);
    const closed = new Promise((r) => t.once('close', r));
    t.write('CZ0040300' + 'ZZ999' + 'x'.repeat(5000));
    const a = await t.next();
    expect(a.get('AF')).toBe('09');
    await closed;
    const other = await start(['10.0.0.7']);
    const refused = await till(other.server.port);
    await new Promise((r) => refused.once('close', r));
    expect(other.server.stats.rejectedAddresses).toBe(1);
  });
});
