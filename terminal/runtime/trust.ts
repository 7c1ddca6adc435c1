import type { Logger } from '../../common/log.ts';
import { regionDate, startOfRegionDay } from '../../common/paris-time.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import { parseJson } from '../../protocol/messages.ts';
import { settingsTopic, TerminalSettingsDoc } from '../../protocol/terminal-settings.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, HotlistDoc, POLICY_TOPIC, PolicyDoc, MAX_PUSH_BYTES, type HotlistReason } from '../../protocol/offline.ts';
import type { Clock } from '../bindings.ts';
import type { Link } from '../link.ts';
import { offlineDecision, type OfflineDecision, type OfflineView } from '../offline-policy.ts';
import type { RecordStore, TrustStore } from '../outbox-store.ts';
import type { CredentialDraft, Sale } from '../sale.ts';
import type { OpenSigned } from './gateway-signed.ts';

/**
 * What the terminal trusts to sell offline: the policy and the hotlist the gateway pushes (retained, signed
 * with its key), and the gateway's clock, heard in every signed reply and live hotlist. The offline
 * decision itself is a pure function (offline-policy.ts); this part gathers what it judges from.
 */

export interface TrustDeps {
  readonly terminalId: string;
  readonly outbox: TrustStore & Pick<RecordStore, 'stats' | 'offlineSinceForCard'>;
  readonly link: Pick<Link, 'follow'>;
  readonly clock: Clock;
  readonly open: OpenSigned;
  readonly log: Logger;
}

/** The card last read: the sale it signed (its proof's ref), and its chip key's hotlist tag. */
export interface Tapped {
  readonly ref: string;
  readonly tag: string;
}

export class Trust {
  readonly #d: TrustDeps;
  /** Monotonic time of the last signed gateway time heard in this run. */
  #contactMono: number | undefined;

  constructor(d: TrustDeps) {
    this.#d = d;
  }

  /** The offline policy and the hotlist, and this terminal's settings, pushed (retained) by the gateway and signed with its key. */
  onPush(topic: string, payload: Buffer, retained: boolean): void {
    const message = this.#d.open(payload, MAX_PUSH_BYTES);
    if (!message) return;
    const { outbox: o, link, log } = this.#d;
    try {
      if (topic === POLICY_TOPIC) {
        const doc = parseJson(PolicyDoc, message, 'offline policy').body;
        if (o.setPolicy(doc)) log.info({ version: doc.version }, 'offline policy updated');
        return;
      }
      if (topic === HOTLIST_TOPIC || topic === HOTLIST_FULL_TOPIC) {
        const doc = parseJson(HotlistDoc, message, 'hotlist').body;
        const result = o.applyHotlist(doc);
        if (result === 'needs-full') link.follow(HOTLIST_FULL_TOPIC, true);
        else if (doc.full && result !== 'stale') link.follow(HOTLIST_FULL_TOPIC, false);
        if (result === 'applied') log.info({ version: doc.version, entries: doc.entries.length, full: doc.full }, 'hotlist applied');
        // A live (not retained) hotlist was signed moments ago: it tells the time too.
        if (!retained && (result === 'applied' || result === 'refreshed')) this.noteGatewayTime(doc.issuedAt);
        return;
      }
      if (topic === settingsTopic(this.#d.terminalId)) {
        const doc = parseJson(TerminalSettingsDoc, message, 'terminal settings').body;
        if (doc.terminalId !== this.#d.terminalId) throw new PasserelleError('REPLY_UNEXPECTED', `settings for terminal ${doc.terminalId}`);
        // Kept whole, and only when newer: the runtime reads them at each use (a sale's timer, a resend, the cashier's choices).
        if (o.setSettings(doc)) log.info({ version: doc.version, benefits: doc.benefits }, 'settings pushed by the gateway applied');
        return;
      }
      log.warn({ topic }, 'message on an unexpected topic ignored');
    } catch (e) {
      log.warn({ err: e, topic }, 'pushed document refused');
    }
  }

  /** Any signed gateway time (replies, errors, live hotlist refreshes) tells the terminal its clock's error. */
  noteGatewayTime(gatewayAt: number): void {
    const now = this.#d.clock.now();
    this.#d.outbox.setGatewayTime({ gatewayAt, localAt: now });
    this.heard(gatewayAt, now);
  }

  /** A signed gateway time was heard at `now` (and kept, with the replies it came with). */
  heard(gatewayAt: number, now: number): void {
    this.#contactMono = this.#d.clock.monotonicMs();
    const bound = this.#d.outbox.policy()?.limits.clockSkewMaxMs;
    if (bound !== undefined && Math.abs(gatewayAt - now) > bound) {
      this.#d.log.warn({ code: 'CLOCK_UNTRUSTED', skewMs: gatewayAt - now }, "the terminal's clock differs from the gateway's: no offline sale until it is set right");
    }
  }

  /** May this sale be accepted without the gateway? `tapped` is the card last read, for the hotlist. */
  judge(sale: Sale, credential: CredentialDraft, tapped: Tapped | undefined): OfflineDecision {
    return offlineDecision({ credential: credential.kind, unit: sale.unit, amount: sale.amount }, this.view(credential, tapped));
  }

  /** Everything the offline decision judges from, as of now. */
  view(credential: CredentialDraft, tapped: Tapped | undefined): OfflineView {
    const { outbox: o, clock } = this.#d;
    const now = clock.now();
    const st = o.stats();
    const contact = o.gatewayTime();
    return {
      policy: o.policy(),
      hotlist: o.hotlistState(),
      cardHotlisted: this.#hotlisted(credential, tapped),
      cardToday: o.offlineSinceForCard(credential.cardNumber, startOfRegionDay(regionDate(now))),
      pending: { count: st.offlinePending, cents: st.offlinePendingCents },
      clock: {
        now,
        ...(contact ? { lastContact: contact } : {}),
        ...(this.#contactMono !== undefined ? { monotonicSinceContactMs: clock.monotonicMs() - this.#contactMono } : {}),
      },
    };
  }

  /**
   * The hotlist names cards by their chip key's tag, which only the card just read gives. A QR code is
   * refused offline before the hotlist matters; a card whose tag was not kept (never, by construction) is
   * treated as listed rather than let through.
   */
  #hotlisted(credential: CredentialDraft, tapped: Tapped | undefined): HotlistReason | null {
    if (credential.kind === 'qr') return null;
    return tapped !== undefined && tapped.ref === credential.proof.ref ? this.#d.outbox.hotlisted(tapped.tag) : 'soft';
  }
}
