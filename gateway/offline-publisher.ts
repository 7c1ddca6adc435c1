import type { Logger } from '../common/log.ts';
import { encodeJson } from '../protocol/debit.ts';
import { encodeDirect } from '../protocol/frame.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, hotlistTag, POLICY_TOPIC, type HotlistDoc, type HotlistEntry, type OfflineLimits, type PolicyDoc } from '../protocol/offline.ts';
import type { GatewayKeys } from './keys.ts';
import type { CardHotlistEntry, Ledger } from './ledger/ledger.ts';

/**
 * Pushes the signed offline policy and hotlist to every terminal, retained, so a terminal receives the
 * current ones the moment it subscribes (docs/offline.md).
 *
 * The hotlist travels as a delta over a base: `HOTLIST_FULL_TOPIC` holds the whole list at the base
 * version, `HOTLIST_TOPIC` every change since. A terminal at or after the base applies the delta; an older
 * one fetches the full list once. When the delta grows past `fullEvery` cards, the current version becomes
 * the new base. The delta is signed again every `refreshS` even when nothing changed, with a fresh time:
 * a terminal measures its hotlist's age by that signed time, so a quiet day does not look stale, and a
 * gateway that stops publishing does.
 */

export interface OfflinePublisherOptions {
  readonly ledger: Ledger;
  readonly keys: GatewayKeys;
  readonly publishRetained: (topic: string, payload: Buffer) => void;
  readonly limits: OfflineLimits;
  readonly refreshS: number;
  readonly fullEvery: number;
  readonly now: () => number;
  readonly log: Logger;
  /** How often the ledger's hotlist version is polled for changes (ms). */
  readonly pollMs?: number;
}

export class OfflinePublisher {
  readonly #o: OfflinePublisherOptions;
  #base = 0;
  #published = -1;
  #lastSignedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;

  constructor(o: OfflinePublisherOptions) {
    this.#o = o;
  }

  async start(): Promise<{ policyVersion: number; hotlistVersion: number }> {
    const p = await this.#o.ledger.setOfflinePolicy(this.#o.limits, this.#o.now());
    const doc: PolicyDoc = { v: PROTOCOL_VERSION, type: 'offline.policy', body: { version: p.version, issuedAt: p.issuedAt, limits: p.limits } };
    this.#publish(POLICY_TOPIC, doc);
    await this.#publishFull();
    this.#timer = setInterval(() => void this.tick(), this.#o.pollMs ?? 1000);
    this.#timer.unref();
    return { policyVersion: p.version, hotlistVersion: this.#published };
  }

  /** Publish what changed since the last tick, or a fresh signature when the refresh interval is due. */
  async tick(): Promise<void> {
    // One tick at a time (a slow ledger must not let an older one publish after a newer), none after stop.
    if (this.#ticking || this.#stopped) return await this.#ticking;
    this.#ticking = this.#tick().finally(() => (this.#ticking = undefined));
    return await this.#ticking;
  }

  async #tick(): Promise<void> {
    try {
      const version = await this.#o.ledger.hotlistVersion();
      const due = this.#o.now() - this.#lastSignedAt >= this.#o.refreshS * 1000;
      if (version === this.#published && !due) return;
      const delta = await this.#o.ledger.hotlist(this.#base);
      if (delta.entries.length >= this.#o.fullEvery) {
        await this.#publishFull();
        return;
      }
      await this.#publishDelta(delta.version, delta.entries);
    } catch (e) {
      this.#o.log.error({ err: e }, 'hotlist not published; tried again at the next tick');
    }
  }

  async #publishFull(): Promise<void> {
    const full = await this.#o.ledger.hotlist(0);
    this.#base = full.version;
    this.#publish(HOTLIST_FULL_TOPIC, await this.#hotlistDoc(true, full.version, full.entries));
    await this.#publishDelta(full.version, []);
    this.#o.log.info({ version: full.version, cards: full.entries.length }, 'hotlist published in full (new base)');
  }

  async #publishDelta(version: number, entries: readonly CardHotlistEntry[]): Promise<void> {
    this.#publish(HOTLIST_TOPIC, await this.#hotlistDoc(false, version, entries));
    if (version !== this.#published) this.#o.log.info({ version, base: this.#base, changes: entries.length }, 'hotlist published');
    this.#published = version;
  }

  async #hotlistDoc(full: boolean, version: number, cards: readonly CardHotlistEntry[]): Promise<HotlistDoc> {
    this.#lastSignedAt = this.#o.now();
    return { v: PROTOCOL_VERSION, type: 'offline.hotlist', body: { full, base: full ? 0 : this.#base, version, issuedAt: this.#lastSignedAt, entries: await this.#tagged(cards) } };
  }

  /**
   * The list as terminals receive it: each card by its chip key's tag, never its number. A card without a
   * recorded chip key is left out: no terminal can accept it (the gateway refuses its sales for want of a
   * card signature), so there is nothing to warn about.
   */
  async #tagged(cards: readonly CardHotlistEntry[]): Promise<HotlistEntry[]> {
    const keys = await this.#o.ledger.cardKeys(cards.map((c) => c.card));
    const out: HotlistEntry[] = [];
    for (const c of cards) {
      const key = keys.get(c.card);
      if (key) out.push({ tag: hotlistTag(key), reason: c.reason });
    }
    return out;
  }

  #publish(topic: string, doc: PolicyDoc | HotlistDoc): void {
    const message = encodeJson(doc);
    this.#o.publishRetained(topic, encodeDirect(message, this.#o.keys.signer.sign(message)));
  }

  /** No tick after this; waits for one that is running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#ticking;
  }
}
