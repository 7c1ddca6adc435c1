import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FleetTotals } from './ledger/ledger.ts';
import type { PipelineMetrics, PipelineStats } from './pipeline.ts';

/**
 * The gateway's metrics in Prometheus' text format (prom-client), served at `/metrics`: debits by outcome,
 * batch sizes, signature-check and commit latency, requests in flight, connected terminals, what the
 * fleet's heartbeats report unsent, ledger failures, and the process' own (CPU, memory, event-loop lag,
 * prefixed `passerelle_process_`/`passerelle_nodejs_`). Every gateway serves its own; Prometheus adds
 * the instance.
 *
 * The pipeline's counters (`PipelineStats`) are read at scrape time rather than incremented twice on the
 * hot path; the two histograms are fed by the pipeline (`PipelineMetrics`), one observation each.
 */

export interface MetricsSources {
  readonly stats: () => PipelineStats;
  readonly connectedTerminals: () => number;
  readonly fleetTotals: () => Promise<FleetTotals>;
}

/** `PipelineStats` counters and the outcome label each is exported under. */
const OUTCOMES = {
  approved: 'approved',
  declined: 'declined',
  repeats: 'repeat',
  rejected: 'rejected',
  rateLimited: 'rate_limited',
  conflicts: 'txn_conflict',
  seqConflicts: 'seq_conflict',
  voids: 'void',
} as const satisfies Partial<Record<keyof PipelineStats, string>>;

const MS = 1000;

export class GatewayMetrics implements PipelineMetrics {
  readonly registry = new Registry();
  readonly #verify: Histogram;
  readonly #commit: Histogram;
  readonly #batch: Histogram;
  #sources: MetricsSources | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'passerelle_' });
    this.#verify = new Histogram({
      name: 'passerelle_verify_seconds',
      help: "Time to check a request's signatures (the terminal's, and the card's for an NFC sale), on the thread pool",
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: [this.registry],
    });
    this.#commit = new Histogram({
      name: 'passerelle_commit_seconds',
      help: "Time of one batch's ledger transaction (every debit of the batch decided and durable)",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.#batch = new Histogram({
      name: 'passerelle_batch_size',
      help: 'Records decided together in one ledger transaction (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: [this.registry],
    });
    const self = this;
    const seen = new Map<string, number>();
    /** A pipeline counter only grows: the exported counter is brought up to it at each scrape. */
    const catchUp = (c: Counter, key: string, value: number, labels?: Record<string, string>) => {
      const delta = value - (seen.get(key) ?? 0);
      if (delta > 0) {
        if (labels) c.inc(labels, delta);
        else c.inc(delta);
      }
      seen.set(key, value);
    };
    new Counter({
      name: 'passerelle_debits_total',
      help: 'Terminal records by outcome: approved, declined, repeat (a resent record given its first answer), rejected before any rule, rate_limited, txn_conflict, seq_conflict, void',
      labelNames: ['outcome'],
      registers: [this.registry],
      collect() {
        const stats = self.#sources?.stats();
        if (!stats) return;
        for (const [key, outcome] of Object.entries(OUTCOMES)) catchUp(this, key, stats[key as keyof typeof OUTCOMES], { outcome });
      },
    });
    const counter = (name: string, help: string, read: (s: PipelineStats) => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const stats = self.#sources?.stats();
          if (stats) catchUp(this, name, read(stats));
        },
      });
    counter('passerelle_offline_sales_total', 'Offline sales received (accepted by a terminal without the gateway, settled here)', (s) => s.offline);
    counter('passerelle_ledger_failures_total', 'Batches whose ledger transaction failed (rolled back, nothing answered, terminals resend)', (s) => s.ledgerFailures);
    counter('passerelle_gap_requests_total', 'Requests to a terminal for records missing from its sequence', (s) => s.gapRequests);
    const gauge = (name: string, help: string, read: (s: MetricsSources) => number | Promise<number>) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          if (self.#sources) this.set(await read(self.#sources));
        },
      });
    gauge('passerelle_in_flight', 'Requests received and not yet answered', (s) => s.stats().inFlight);
    gauge('passerelle_connected_terminals', 'Terminals connected to this gateway’s broker', (s) => s.connectedTerminals());
    // Read once per scrape: one aggregate query over the latest heartbeats, shared by the six gauges.
    let totals: { at: number; value: Promise<FleetTotals> } | undefined;
    const fleet = (s: MetricsSources) => {
      if (!totals || Date.now() - totals.at > MS) totals = { at: Date.now(), value: s.fleetTotals() };
      return totals.value;
    };
    const fleetGauge = (name: string, help: string, read: (t: FleetTotals) => number) => gauge(name, help, async (s) => read(await fleet(s)));
    fleetGauge('passerelle_fleet_terminals', 'Active terminals registered (devices)', (t) => t.terminals);
    fleetGauge('passerelle_fleet_terminals_heard', 'Active terminals that ever sent a heartbeat', (t) => t.heard);
    fleetGauge('passerelle_fleet_terminals_with_unsent', 'Terminals whose latest heartbeat reported records waiting to be sent', (t) => t.withPending);
    fleetGauge('passerelle_fleet_unsent_records', 'Records waiting to be sent, summed over the latest heartbeats', (t) => t.pending);
    fleetGauge('passerelle_fleet_unsent_offline_sales', 'Offline sales waiting to be sent, summed over the latest heartbeats', (t) => t.offlinePending);
    fleetGauge('passerelle_fleet_unsent_offline_cents', 'What those offline sales ask, in cents', (t) => t.offlinePendingCents);
  }

  /** The parts the metrics read, once they have started. */
  attach(sources: MetricsSources): void {
    this.#sources = sources;
  }

  verified(ms: number): void {
    this.#verify.observe(ms / MS);
  }

  committed(size: number, ms: number): void {
    this.#batch.observe(size);
    this.#commit.observe(ms / MS);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
