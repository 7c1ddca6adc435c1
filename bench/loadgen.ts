import type { MqttClient } from 'mqtt';
import { connectMqttAsync } from '../common/mqtt.ts';
import { brokerPassword, makeConnectToken } from '../protocol/connect-token.ts';
import { fromB64url, NodeVerifier, nodeSigner, type Signer } from '../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../protocol/debit.ts';
import { decodeFrame, encodeDirect, verifyFrame, VerifiedRoots } from '../protocol/frame.ts';
import { parseJson, Reply, type DebitRequestBody } from '../protocol/messages.ts';
import { chainHash, GENESIS_HASH } from '../protocol/offline.ts';
import { replyTopic, requestTopic } from '../protocol/topics.ts';
import { uuidv7 } from '../protocol/uuid7.ts';
import { mulberry32 } from '../common/random.ts';
import { BARE_BODY_BYTES, BARE_REPLY_BYTES } from './bare.ts';
import { benchChip, benchProof } from './chips.ts';

/**
 * The load generator, run as a child process of the benchmark so it has its own core: simulated terminals
 * as lean protocol clients. Each signs its requests with node:crypto and checks every reply's signature
 * against the gateway key (one Ed25519 check per batch root, shared by the terminals of this process).
 * No outbox here: the terminals' durable commit is measured by its own benchmark.
 *
 * Against the bare pipeline (bench/bare.ts, `pipeline: 'bare'`) the same terminals send its fixed binary
 * body, signed the same way, and read its unsigned binary reply.
 */

export interface LoadgenSetup {
  /** Ours (JSON requests with the card's proof, signed replies) or the bare pipeline's binary frames. */
  readonly pipeline: 'passerelle' | 'bare';
  readonly url: string;
  readonly gatewaySignPublicKey: string;
  readonly terminals: readonly { readonly id: string; readonly seed: string }[];
  readonly cards: readonly string[];
  /** How terminals log in: a connect token (the embedded broker, default) or the key password (Mosquitto). */
  readonly auth?: 'token' | 'key';
}

export type LoadgenCommand =
  | { readonly kind: 'setup'; readonly setup: LoadgenSetup }
  | { readonly kind: 'closed'; readonly warmupMs: number; readonly measureMs: number }
  | { readonly kind: 'open'; readonly ratePerS: number; readonly warmupMs: number; readonly measureMs: number }
  | { readonly kind: 'exit' };

export interface ClosedResult {
  readonly kind: 'closed';
  /** CPU time this process spent during the measured window, in ms. */
  readonly cpuMs: number;
  readonly completed: number;
  readonly seconds: number;
  readonly errors: number;
  readonly declined: number;
}

export interface OpenResult {
  readonly kind: 'open';
  readonly sent: number;
  readonly measured: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly errors: number;
  readonly declined: number;
}

export type LoadgenReport = { readonly kind: 'ready' } | ClosedResult | OpenResult | { readonly kind: 'failed'; readonly message: string };

const REPLY_TIMEOUT_MS = 10_000;

interface Outstanding {
  readonly done: (ok: boolean, declined: boolean) => void;
}

class BenchTerminal {
  #seq = 0;
  /** The hash chain's head: SHA-256 of this terminal's previous message (all zero before the first). */
  #prev = GENESIS_HASH;
  readonly outstanding = new Map<string, Outstanding>();

  constructor(
    readonly id: string,
    readonly signer: Signer,
    readonly client: MqttClient,
  ) {}

  send(card: number, amount: number, o: Outstanding): void {
    if (pipeline === 'bare') return this.#sendBare(card, amount, o);
    this.#sendOurs(cards[card]!, amount, o);
  }

  #sendBare(card: number, amount: number, o: Outstanding): void {
    const body = Buffer.allocUnsafe(BARE_BODY_BYTES);
    body.write(uuidv7().replaceAll('-', ''), 0, 16, 'hex');
    body.writeUInt32BE(card, 16);
    body.writeUInt32BE(amount, 20);
    this.outstanding.set(body.toString('hex', 0, 16), o);
    this.client.publish(requestTopic(this.id), encodeDirect(body, this.signer.sign(body)), { qos: 1 });
  }

  #sendOurs(card: string, amount: number, o: Outstanding): void {
    const txnId = uuidv7();
    const createdAt = Date.now();
    // The card in the field signs the sale (its proof, which the gateway checks with the chip's key).
    const proof = benchProof(card, { ref: txnId, terminalId: this.id, benefit: 'LEISURE_BOOKS', amount, unit: 'cent', at: createdAt });
    const body: DebitRequestBody = {
      txnId,
      terminalId: this.id,
      seq: ++this.#seq,
      prev: this.#prev,
      createdAt,
      mode: 'online',
      hotlist: 0,
      policy: 0,
      credential: { kind: 'nfc', cardNumber: card, proof },
      benefit: 'LEISURE_BOOKS',
      amount,
      unit: 'cent',
    };
    const message = encodeJson(debitRequest(body));
    this.#prev = chainHash(message);
    this.outstanding.set(body.txnId, o);
    this.client.publish(requestTopic(this.id), encodeDirect(message, this.signer.sign(message)), { qos: 1 });
  }
}

const verifier = new NodeVerifier();
const roots = new VerifiedRoots();
let gatewayKey: Uint8Array;
let terminals: BenchTerminal[] = [];
let cards: readonly string[] = [];
let pipeline: LoadgenSetup['pipeline'] = 'passerelle';
let errors = 0;
let declined = 0;

function onReply(t: BenchTerminal, payload: Buffer): void {
  if (pipeline === 'bare') return onBareReply(t, payload);
  let reply: Reply;
  try {
    const frame = decodeFrame(payload);
    if (!verifyFrame(frame, gatewayKey, verifier, roots)) throw new Error('bad reply signature');
    reply = parseJson(Reply, frame.message, 'reply');
  } catch {
    errors++;
    return;
  }
  const o = t.outstanding.get(reply.corr);
  if (!o) return;
  t.outstanding.delete(reply.corr);
  o.done(reply.type === 'debit.reply', reply.type === 'debit.reply' && reply.body.status === 'declined');
}

function onBareReply(t: BenchTerminal, payload: Buffer): void {
  if (payload.length !== BARE_REPLY_BYTES) {
    errors++;
    return;
  }
  const key = payload.toString('hex', 0, 16);
  const o = t.outstanding.get(key);
  if (!o) return;
  t.outstanding.delete(key);
  o.done(true, payload[16] === 0);
}

async function setup(s: LoadgenSetup): Promise<void> {
  pipeline = s.pipeline;
  gatewayKey = fromB64url(s.gatewaySignPublicKey, 32, 'gateway key');
  cards = s.cards;
  // Every card's chip made once before the clock starts (building a key costs more than a signature).
  if (pipeline === 'passerelle') for (const c of cards) benchChip(c);
  terminals = await Promise.all(
    s.terminals.map(async ({ id, seed }) => {
      const signer = nodeSigner(fromB64url(seed, 32, 'seed'));
      const client = await connectMqttAsync(s.url, {
        clientId: id,
        username: id,
        // A fresh bench gateway: no token was used before; no record yet. The bare one takes any.
        password: pipeline === 'bare' ? 'bare' : s.auth === 'key' ? brokerPassword(signer) : makeConnectToken(id, signer, { ms: Date.now(), head: 0 }),
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
      await client.subscribeAsync(replyTopic(id), { qos: 1 });
      const t = new BenchTerminal(id, signer, client);
      client.on('message', (_topic, payload) => onReply(t, payload));
      return t;
    }),
  );
}

/**
 * Cards and amounts drawn uniformly (1 to 99 cents, so no card runs dry within a run): every debit of a
 * run is a real debit, not a cheaper decline. The same seed in every run and for both pipelines.
 */
const random = mulberry32(20261207);
const nextCard = () => Math.floor(random() * cards.length);
const nextAmount = () => 1 + Math.floor(random() * 99);

/** Closed loop: each terminal has one request in flight and sends the next as soon as it is answered. */
function closedLoop(warmupMs: number, measureMs: number): Promise<ClosedResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    const measureFrom = start + warmupMs;
    const end = measureFrom + measureMs;
    let cpuAtStart: NodeJS.CpuUsage | undefined;
    let cpuMs = 0;
    setTimeout(() => (cpuAtStart = process.cpuUsage()), warmupMs);
    setTimeout(() => {
      const c = process.cpuUsage(cpuAtStart);
      cpuMs = (c.user + c.system) / 1000;
    }, warmupMs + measureMs);
    let completed = 0;
    let running = terminals.length;
    errors = 0;
    declined = 0;
    const loop = (t: BenchTerminal) => {
      const now = performance.now();
      if (now >= end) {
        if (--running === 0) resolve({ kind: 'closed', completed, seconds: measureMs / 1000, errors, declined, cpuMs });
        return;
      }
      t.send(nextCard(), nextAmount(), {
        done: (ok, wasDeclined) => {
          const at = performance.now();
          if (at >= measureFrom && at < end) {
            completed++;
            if (wasDeclined) declined++;
          }
          if (!ok) errors++;
          loop(t);
        },
      });
    };
    for (const t of terminals) loop(t);
    // A request never answered would stall its terminal: count what is still out as errors and stop.
    setTimeout(() => {
      if (running > 0) resolve({ kind: 'closed', completed, seconds: measureMs / 1000, errors: errors + running, declined, cpuMs });
    }, warmupMs + measureMs + REPLY_TIMEOUT_MS).unref();
  });
}

/**
 * Open loop: requests are scheduled at a fixed rate whatever the replies do, and each latency is counted
 * from the scheduled time, so a stall shows as latency instead of silently slowing the offer down.
 */
function openLoop(ratePerS: number, warmupMs: number, measureMs: number): Promise<OpenResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    const total = Math.round((ratePerS * (warmupMs + measureMs)) / 1000);
    const warmupCount = Math.round((ratePerS * warmupMs) / 1000);
    const latencies: number[] = [];
    let sent = 0;
    let answered = 0;
    errors = 0;
    declined = 0;
    const finish = () => {
      latencies.sort((a, b) => a - b);
      const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
      resolve({ kind: 'open', sent, measured: latencies.length, p50Ms: q(0.5), p99Ms: q(0.99), p999Ms: q(0.999), maxMs: latencies.at(-1) ?? NaN, errors, declined });
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * ratePerS) / 1000));
      for (; sent < due; sent++) {
        const i = sent;
        const scheduledAt = start + (i * 1000) / ratePerS;
        terminals[i % terminals.length]!.send(nextCard(), nextAmount(), {
          done: (ok, wasDeclined) => {
            if (i >= warmupCount) {
              latencies.push(performance.now() - scheduledAt);
              if (wasDeclined) declined++;
            }
            if (!ok) errors++;
            if (++answered === total) finish();
          },
        });
      }
      if (sent < total) setTimeout(tick, 1);
      else
        setTimeout(() => {
          if (answered < total) {
            errors += total - answered;
            answered = total;
            finish();
          }
        }, REPLY_TIMEOUT_MS).unref();
    };
    tick();
  });
}

function report(r: LoadgenReport): void {
  process.send?.(r);
}

process.on('message', (cmd: LoadgenCommand) => {
  const run = async () => {
    switch (cmd.kind) {
      case 'setup':
        await setup(cmd.setup);
        return report({ kind: 'ready' });
      case 'closed':
        return report(await closedLoop(cmd.warmupMs, cmd.measureMs));
      case 'open':
        return report(await openLoop(cmd.ratePerS, cmd.warmupMs, cmd.measureMs));
      case 'exit':
        await Promise.all(terminals.map((t) => t.client.endAsync(true)));
        process.exit(0);
    }
  };
  run().catch((e: unknown) => report({ kind: 'failed', message: String(e) }));
});
