import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { nodeSigner, NodeVerifier, type Signer } from '../../protocol/crypto.ts';
import { encodeJson } from '../../protocol/debit.ts';
import { encodeDirect, VerifiedRoots } from '../../protocol/frame.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { saleDraft, voidDraft } from '../outbox.contract.ts';
import { Outbox } from '../outbox.ts';
import { openSignedByGateway } from './gateway-signed.ts';
import { ReplyIntake, type ReplyIntakeDeps } from './replies.ts';

/** Reply intake on an outbox in memory; what it tells the rest of the runtime is written down in order. */

const TID = 'T-TEST-01';
const gateway = nodeSigner(randomBytes(32));
const NOW = Date.parse('2026-09-01T08:00:00Z');

let outbox: Outbox;
let intake: ReplyIntake;
let told: string[];
let transactions: number;
let silent: boolean;

beforeEach(() => {
  outbox = new Outbox({ file: ':memory:', maxPending: 10 });
  told = [];
  transactions = 0;
  silent = false;
  const o = outbox;
  const counted: ReplyIntakeDeps['outbox'] = {
    atomically: (fn) => (transactions++, o.atomically(fn)),
    settle: (replies, at) => o.settle(replies, at),
    entry: (txnId) => o.entry(txnId),
    reject: (txnId, code, at) => o.reject(txnId, code, at),
    setGatewayTime: (t) => o.setGatewayTime(t),
  };
  intake = new ReplyIntake({
    outbox: counted,
    terminalId: TID,
    clock: { now: () => NOW },
    open: openSignedByGateway({ gatewaySignPublicKey: gateway.publicKey, verifier: new NodeVerifier(), roots: new VerifiedRoots(4), log: silentLogger }),
    log: silentLogger,
    window: {
      answered: (id) => told.push(`answered ${id}`),
      resendMissing: (seqs) => told.push(`resend ${seqs.join(',')}`),
      pump: () => told.push('pump'),
    },
    gatewayTime: { noteGatewayTime: (at) => told.push(`time ${at - NOW}`), heard: (at, now) => told.push(`heard ${at - NOW} at ${now - NOW}`) },
    status: {
      gatewayAnswered: () => {
        const was = silent;
        silent = false;
        return was;
      },
      changed: () => told.push('status changed'),
    },
    settled: (s) => told.push(`settled ${s.txnId} ${s.status} ${s.code}`),
    replied: (r) => told.push(`replied ${r.txnId} ${r.status}`),
    rejected: (id, code) => told.push(`rejected ${id} ${code}`),
  });
});
afterEach(() => {
  intake.stop();
  outbox.close();
});

function reply(message: unknown, signer: Signer = gateway): void {
  const bytes = encodeJson(message);
  intake.onReply(encodeDirect(bytes, signer.sign(bytes)));
}
const debit = (txnId: string, decidedAt: number, terminalId = TID) => ({
  v: 1,
  type: 'debit.reply',
  corr: txnId,
  body: { txnId, terminalId, status: 'approved', benefit: 'SPORT', unit: 'cent', requested: 500, taken: 500, remainingToPay: 0, decidedAt, mode: 'online' },
});
const turn = () => new Promise((r) => setImmediate(r));

describe('ReplyIntake', () => {
  it('records every reply of one turn in one transaction, then moves the sales, the status bar and the window on', async () => {
    const [a, v] = [uuidv7(NOW), uuidv7(NOW)];
    outbox.append(saleDraft(a));
    outbox.append(voidDraft(v, a));
    reply(debit(a, NOW + 20));
    reply({ v: 1, type: 'void.reply', corr: v, body: { txnId: v, terminalId: TID, target: a, result: 'prevented', decidedAt: NOW + 10 } });
    expect(told).toEqual([]);
    await turn();
    expect(transactions).toBe(1);
    // Records settled: the status bar (what waits to be sent) is drawn again, once.
    expect(told).toEqual(['heard 20 at 0', `answered ${a}`, `settled ${a} approved null`, `replied ${a} approved`, `answered ${v}`, `settled ${v} void prevented`, 'status changed', 'pump']);
    expect(outbox.entry(a)).toMatchObject({ state: 'replied', status: 'approved', taken: 500 });
    expect(outbox.entry(v)).toMatchObject({ state: 'replied', code: 'prevented' });
    expect(outbox.gatewayTime()).toEqual({ gatewayAt: NOW + 20, localAt: NOW });
  });

  it('a duplicate reply settles nothing again; the record still leaves the window', async () => {
    const a = uuidv7(NOW);
    outbox.append(saleDraft(a));
    reply(debit(a, NOW));
    await turn();
    told = [];
    reply(debit(a, NOW));
    await turn();
    expect(told).toEqual(['heard 0 at 0', `answered ${a}`, 'pump']);
  });

  it('ignores replies not signed by the gateway, and replies for another terminal', async () => {
    const a = uuidv7(NOW);
    outbox.append(saleDraft(a));
    reply(debit(a, NOW), nodeSigner(randomBytes(32)));
    reply(debit(a, NOW, 'T-TEST-02'));
    await turn();
    expect(told).toEqual([]);
    expect(outbox.entry(a)?.state).toBe('pending');
  });

  it('the first answer after the gateway was silent redraws the status bar, after the sales moved on', async () => {
    silent = true;
    const a = uuidv7(NOW);
    outbox.append(saleDraft(a));
    reply(debit(a, NOW));
    await turn();
    expect(told.slice(-3)).toEqual([`replied ${a} approved`, 'status changed', 'pump']);
  });

  it('a rejection is final; a busy gateway leaves the record pending; both tell the time', () => {
    const a = uuidv7(NOW);
    outbox.append(saleDraft(a));
    reply({ v: 1, type: 'error', corr: a, body: { code: 'GATEWAY_BUSY', message: 'busy', decidedAt: NOW + 1 } });
    expect(outbox.entry(a)?.state).toBe('pending');
    reply({ v: 1, type: 'error', corr: a, body: { code: 'BAD_SIGNATURE', message: 'no', decidedAt: NOW + 2 } });
    expect(outbox.entry(a)).toMatchObject({ state: 'rejected', code: 'BAD_SIGNATURE' });
    reply({ v: 1, type: 'error', corr: a, body: { code: 'BAD_SIGNATURE', message: 'again', decidedAt: NOW + 3 } });
    expect(told).toEqual(['time 1', 'time 2', `answered ${a}`, `settled ${a} rejected BAD_SIGNATURE`, `rejected ${a} BAD_SIGNATURE`, 'time 3']);
  });

  it('sync.missing asks the window to resend those records, for this terminal only', () => {
    reply({ v: 1, type: 'sync.missing', corr: '', body: { terminalId: TID, seqs: [3, 4], decidedAt: NOW + 5 } });
    reply({ v: 1, type: 'sync.missing', corr: '', body: { terminalId: 'T-TEST-02', seqs: [1], decidedAt: NOW + 6 } });
    expect(told).toEqual(['resend 3,4', 'time 5', 'time 6']);
  });
});
