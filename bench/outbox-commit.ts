import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { cardNumberFrom } from '../protocol/card.ts';
import { naclSigner, nodeSigner, type Signer } from '../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../protocol/debit.ts';
import { encodeDirect } from '../protocol/frame.ts';
import type { DebitRequestBody } from '../protocol/messages.ts';
import { uuidv7 } from '../protocol/uuid7.ts';
import { Outbox } from '../terminal/outbox.ts';
import { quantile, round, scratchDir } from './scratch.ts';

/**
 * `"scenario":"outbox-commit"`: the terminal's durable commit. A real Outbox (SQLite, WAL,
 * synchronous=FULL) in a directory on disk; each sale is built exactly as the runtime builds it
 * (terminal/runtime/records.ts RecordWriter.sale: sequence number and chain head from the outbox, policy and hotlist
 * versions read inside the transaction, the request signed) and committed with `append`. Each append's
 * wall time is measured, signature included; the measured loop signs with node:crypto, and the median of
 * a tweetnacl signature (what a real terminal pays on top) is reported on its own.
 *
 * The records stay pending, as on a terminal that lost its link: the outbox grows to `sales` records.
 */

const TARGET_P99_MS = 2;
const WARMUP = 200;
const SALES_FULL = 5000;
const SALES_QUICK = 1000;
const NACL_SAMPLES = 300;
/** A card's signature of a sale, as long as a real one (64 bytes in base64url). */
const CARD_SIG = 'C'.repeat(86);

export async function outboxCommitBench(o: { quick?: boolean }): Promise<void> {
  const sales = o.quick ? SALES_QUICK : SALES_FULL;
  const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);
  const dir = scratchDir('passerelle-outbox-');
  const seed = randomBytes(32);
  const terminalId = 'T-BENCH-OUTBOX';
  const outbox = new Outbox({ file: join(dir.path, 'outbox.sqlite'), maxPending: 100_000 });
  try {
    progress(`outbox commit: ${WARMUP} warm-up and ${sales} measured appends in ${dir.path} (${dir.fsType})`);
    const signer = nodeSigner(seed);
    const cards = Array.from({ length: 200 }, (_, i) => cardNumberFrom(`8${String(i).padStart(14, '0')}`));
    const append = (i: number, s: Signer) =>
      outbox.append((seq, prev) => {
        const txnId = uuidv7();
        const createdAt = Date.now();
        const body: DebitRequestBody = {
          txnId,
          terminalId,
          seq,
          prev,
          createdAt,
          mode: 'offline',
          hotlist: outbox.hotlistState().version,
          policy: outbox.policy()?.version ?? 0,
          // The card's signature comes from the card at the tap: a fixed one here (the outbox does not check it).
          credential: { kind: 'nfc', cardNumber: cards[i % cards.length]!, proof: { ref: txnId, at: createdAt, sig: CARD_SIG } },
          benefit: 'LEISURE_BOOKS',
          amount: 1 + (i % 99),
          unit: 'cent',
        };
        const message = encodeJson(debitRequest(body));
        return { txnId, kind: 'sale', mode: 'offline', card: body.credential.cardNumber, benefit: body.benefit, unit: body.unit, amount: body.amount, createdAt, message, frame: encodeDirect(message, s.sign(message)) };
      });
    for (let i = 0; i < WARMUP; i++) append(i, signer);
    const times: number[] = new Array(sales);
    const started = performance.now();
    for (let i = 0; i < sales; i++) {
      const t0 = performance.now();
      append(WARMUP + i, signer);
      times[i] = performance.now() - t0;
      // Let timers and I/O run between sales, as on a terminal (one sale at a time, never a tight loop).
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    const seconds = (performance.now() - started) / 1000;
    const firstHalf = times.slice(0, sales / 2).sort((a, b) => a - b);
    const secondHalf = times.slice(sales / 2).sort((a, b) => a - b);
    const sorted = [...times].sort((a, b) => a - b);

    // What a real terminal pays on top: a tweetnacl signature of a message of the same size.
    const nacl = naclSigner(seed);
    const sample = outbox.bySeq(WARMUP + 1)!.frame;
    const naclTimes: number[] = [];
    for (let i = 0; i < NACL_SAMPLES; i++) {
      const t0 = performance.now();
      nacl.sign(sample);
      naclTimes.push(performance.now() - t0);
    }
    naclTimes.sort((a, b) => a - b);
    const nodeTimes: number[] = [];
    for (let i = 0; i < NACL_SAMPLES; i++) {
      const t0 = performance.now();
      signer.sign(sample);
      nodeTimes.push(performance.now() - t0);
    }
    nodeTimes.sort((a, b) => a - b);

    const p99 = quantile(sorted, 0.99);
    console.log(`outbox-commit benchmark: ${sales} sales appended one by one (SQLite WAL, synchronous=FULL, ${dir.fsType} at ${dir.path})`);
    console.log(
      `  append (build + node:crypto signature + durable commit): median ${round(quantile(sorted, 0.5), 3)} ms, p90 ${round(quantile(sorted, 0.9), 3)} ms, p99 ${round(p99, 3)} ms, max ${round(sorted.at(-1)!, 3)} ms; ${Math.round(sales / seconds)} commits/s`,
    );
    console.log(`  first ${sales / 2} appends p99 ${round(quantile(firstHalf, 0.99), 3)} ms, last ${sales / 2} (outbox fuller) p99 ${round(quantile(secondHalf, 0.99), 3)} ms`);
    console.log(`  signature alone: node:crypto median ${round(quantile(nodeTimes, 0.5), 3)} ms; tweetnacl median ${round(quantile(naclTimes, 0.5), 3)} ms (a real terminal pays the difference on top)`);
    console.log(
      JSON.stringify({
        scenario: 'outbox-commit',
        sales,
        median_ms: round(quantile(sorted, 0.5), 3),
        p90_ms: round(quantile(sorted, 0.9), 3),
        p99_ms: round(p99, 3),
        max_ms: round(sorted.at(-1)!, 3),
        commits_per_s: Math.round(sales / seconds),
        nacl_sign_median_ms: round(quantile(naclTimes, 0.5), 3),
        node_sign_median_ms: round(quantile(nodeTimes, 0.5), 3),
        fs: dir.fsType,
        target_p99_ms: TARGET_P99_MS,
        met: p99 <= TARGET_P99_MS,
      }),
    );
  } finally {
    outbox.close();
    dir.remove();
  }
}
