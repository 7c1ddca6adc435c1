import type { Logger } from '../common/log.ts';
import type { Ledger } from './ledger/ledger.ts';

export interface LeaderJob {
  stop(): void | Promise<void>;
}

export interface WhileLeaderOptions {
  readonly ledger: Ledger;
  /** The lease's name: one holder among the gateways sharing the ledger. */
  readonly name: string;
  /** Start the job; what it returns stops it. */
  readonly start: () => Promise<LeaderJob>;
  /** How often a gateway without the lease tries again (ms). */
  readonly retryMs: number;
  readonly log: Logger;
  /**
   * false: this gateway's job is its own (each gateway has its own broker to publish to), run at once
   * without a lease. Default true.
   */
  readonly shared?: boolean;
}

/**
 * Run a job on one gateway of a region at a time (gateway/ledger/base.ts `lease`): the gateway holding the
 * lease runs it; the others try again every `retryMs`, and one of them takes over within that time when the
 * holder stops or loses its link to the database. On SQLite (one gateway per ledger) the lease is always
 * this gateway's. The first try is made before this resolves, so a lone gateway runs the job from its start.
 */
export async function startWhileLeader(o: WhileLeaderOptions): Promise<{ readonly leading: () => boolean; stop(): Promise<void> }> {
  if (o.shared === false) {
    const own = await o.start();
    return { leading: () => true, stop: async () => await own.stop() };
  }
  let stopped = false;
  let job: LeaderJob | undefined;
  let lease: Awaited<ReturnType<Ledger['lease']>> = null;
  let timer: NodeJS.Timeout | undefined;
  const attempt = async (): Promise<void> => {
    timer = undefined;
    if (stopped) return;
    try {
      lease = await o.ledger.lease(o.name);
      if (lease && stopped) {
        // Stopped while it was being taken: give it back at once.
        await lease.release();
        lease = null;
        return;
      }
      if (lease) {
        job = await o.start();
        if (stopped) {
          await job.stop();
          job = undefined;
          await lease?.release();
          lease = null;
          return;
        }
        o.log.info({ job: o.name }, 'this gateway runs the job (it holds the lease)');
        const held = lease;
        void held.lost.then(async () => {
          if (lease !== held) return;
          o.log.warn({ job: o.name }, 'lease lost (the database link broke): the job stops here, another gateway takes it');
          lease = null;
          await job?.stop();
          job = undefined;
          schedule();
        });
        return;
      }
    } catch (err) {
      o.log.error({ err, job: o.name }, 'could not take the lease; trying again');
      await lease?.release().catch(() => undefined);
      lease = null;
    }
    schedule();
  };
  const schedule = () => {
    if (!stopped && !timer) {
      timer = setTimeout(() => void attempt(), o.retryMs);
      timer.unref();
    }
  };
  await attempt();
  return {
    leading: () => lease !== null,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await job?.stop();
      job = undefined;
      const held = lease;
      lease = null;
      await held?.release();
    },
  };
}
