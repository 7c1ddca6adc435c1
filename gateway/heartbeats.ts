import type { Logger } from '../common/log.ts';
import type { NodeVerifier } from '../protocol/crypto.ts';
import { decodeFrameWithin } from '../protocol/frame.ts';
import { Heartbeat, MAX_HEARTBEAT_BYTES } from '../protocol/heartbeat.ts';
import { parseCanonicalJson } from '../protocol/messages.ts';
import { parseTerminalTopic } from '../protocol/topics.ts';
import type { Ledger } from './ledger/ledger.ts';

/**
 * The terminals' heartbeats (protocol/heartbeat.ts), kept as the fleet view's evidence: each is checked
 * against the key the ledger holds for its terminal (a deactivated or re-keyed terminal's old key is not
 * heard), must be signed bytes in their one canonical spelling, name the terminal of its topic, and be newer
 * (by the terminal's clock) than the one kept, so a replayed heartbeat changes nothing. Heartbeats are best
 * effort: past `maxInFlight` checks at once, or more often than `minIntervalMs` from one terminal, they are
 * dropped (the next one says everything again); one write per accepted heartbeat.
 */

export interface HeartbeatIntakeOptions {
  readonly ledger: Ledger;
  readonly verifier: NodeVerifier;
  readonly now: () => number;
  readonly log: Logger;
  readonly minIntervalMs?: number;
  readonly maxInFlight?: number;
}

export interface HeartbeatStats {
  received: number;
  recorded: number;
  /** Unreadable, unsigned, for another terminal, or older than the one kept. */
  refused: number;
  /** Over the rate or the in-flight bound. */
  dropped: number;
}

export class HeartbeatIntake {
  readonly #o: HeartbeatIntakeOptions;
  readonly stats: HeartbeatStats = { received: 0, recorded: 0, refused: 0, dropped: 0 };
  /** When each terminal's last heartbeat was accepted (this gateway's clock): at most one entry per terminal that proved its key. */
  readonly #lastAccepted = new Map<string, number>();
  #inFlight = 0;
  #stopped = false;

  constructor(o: HeartbeatIntakeOptions) {
    this.#o = o;
  }

  readonly handle = (topic: string, payload: Buffer): void => {
    if (this.#stopped) return;
    const route = parseTerminalTopic(topic);
    if (!route || route.kind !== 'status') return;
    this.stats.received++;
    const last = this.#lastAccepted.get(route.terminalId);
    if (this.#inFlight >= (this.#o.maxInFlight ?? 64) || (last !== undefined && this.#o.now() - last < (this.#o.minIntervalMs ?? 5000))) {
      this.stats.dropped++;
      return;
    }
    this.#inFlight++;
    void this.#receive(route.terminalId, payload)
      .then(
        (why) => {
          if (why === null) return;
          this.stats.refused++;
          this.#o.log.debug({ terminalId: route.terminalId, why }, 'heartbeat refused');
        },
        (err: unknown) => this.#o.log.error({ err, terminalId: route.terminalId }, 'heartbeat not recorded'),
      )
      .finally(() => this.#inFlight--);
  };

  /** Null when recorded; otherwise why not. */
  async #receive(terminalId: string, payload: Buffer): Promise<string | null> {
    let frame;
    try {
      frame = decodeFrameWithin(payload, MAX_HEARTBEAT_BYTES);
    } catch (e) {
      return (e as Error).message;
    }
    if (frame.mode !== 'direct') return 'not a directly signed frame';
    const terminal = await this.#o.ledger.terminal(terminalId);
    if (!terminal || !terminal.active) return 'no active terminal with this id';
    if (!(await this.#o.verifier.verifyAsync(frame.message, frame.signature, terminal.publicKey))) return 'bad signature';
    let body;
    try {
      body = parseCanonicalJson(Heartbeat, frame.message, 'heartbeat').body;
    } catch (e) {
      return (e as Error).message;
    }
    if (body.terminalId !== terminalId) return `for terminal ${body.terminalId}`;
    if (this.#stopped) return 'gateway stopping';
    const receivedAt = this.#o.now();
    const { queue, ...rest } = body;
    if (!await this.#o.ledger.recordHeartbeat({ ...rest, ...queue, receivedAt })) return 'not newer than the heartbeat kept';
    this.#lastAccepted.set(terminalId, receivedAt);
    this.stats.recorded++;
    return null;
  }

  stop(): void {
    this.#stopped = true;
  }
}
