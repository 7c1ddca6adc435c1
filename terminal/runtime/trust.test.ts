import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { nodeSigner, NodeVerifier, type Signer } from '../../protocol/crypto.ts';
import { encodeJson } from '../../protocol/debit.ts';
import { encodeDirect, VerifiedRoots } from '../../protocol/frame.ts';
import { DEFAULT_OFFLINE_LIMITS, HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, POLICY_TOPIC } from '../../protocol/offline.ts';
import { Outbox } from '../outbox.ts';
import type { CredentialDraft, Sale } from '../sale.ts';
import { openSignedByGateway } from './gateway-signed.ts';
import { Trust, type Tapped } from './trust.ts';

/** Trust in what the gateway pushes and in its clock, on an outbox in memory and a link that records what it follows. */

const gateway = nodeSigner(randomBytes(32));
const NOW = Date.parse('2026-09-01T08:00:00Z');
const CARD = cardNumberFrom('825000000000001');
const TAG = 'T'.repeat(22);
const SALE: Sale = { benefit: 'SPORT', unit: 'cent', amount: 500 };

let outbox: Outbox;
let trust: Trust;
let followed: Map<string, boolean>;
let monotonic: number;

beforeEach(() => {
  outbox = new Outbox({ file: ':memory:', maxPending: 10 });
  followed = new Map();
  monotonic = 0;
  const open = openSignedByGateway({ gatewaySignPublicKey: gateway.publicKey, verifier: new NodeVerifier(), roots: new VerifiedRoots(4), log: silentLogger });
  const clock = { now: () => NOW, monotonicMs: () => monotonic, setTimer: () => () => {} };
  trust = new Trust({ terminalId: 'T-TEST-01', outbox, link: { follow: (topic, on) => void followed.set(topic, on) }, clock, open, log: silentLogger });
});
afterEach(() => outbox.close());

function push(topic: string, message: unknown, retained = true, signer: Signer = gateway): void {
  const bytes = encodeJson(message);
  trust.onPush(topic, encodeDirect(bytes, signer.sign(bytes)), retained);
}
const policy = (version: number) => ({ v: 1, type: 'offline.policy', body: { version, issuedAt: NOW, limits: DEFAULT_OFFLINE_LIMITS } });
const hotlist = (body: { full: boolean; base: number; version: number; entries?: { tag: string; reason: string | null }[]; issuedAt?: number }) => ({
  v: 1,
  type: 'offline.hotlist',
  body: { entries: [], issuedAt: NOW, ...body },
});

const card = (ref: string): CredentialDraft => ({ kind: 'nfc', cardNumber: CARD, proof: { ref, at: NOW, sig: 'A'.repeat(86) } });

describe('Trust', () => {
  it("keeps a policy only when the gateway signed it, and only a newer one", () => {
    push(POLICY_TOPIC, policy(2), true, nodeSigner(randomBytes(32)));
    expect(outbox.policy()).toBeUndefined();
    push(POLICY_TOPIC, policy(2));
    push(POLICY_TOPIC, policy(1));
    expect(outbox.policy()?.version).toBe(2);
    push('some/other/topic', policy(3));
    expect(outbox.policy()?.version).toBe(2);
  });

  it('follows the full hotlist while a delta cannot apply, and leaves it once a full list is held', () => {
    push(HOTLIST_TOPIC, hotlist({ full: false, base: 3, version: 4 }));
    expect(followed.get(HOTLIST_FULL_TOPIC)).toBe(true);
    push(HOTLIST_FULL_TOPIC, hotlist({ full: true, base: 0, version: 4, entries: [{ tag: TAG, reason: 'opposed' }] }));
    expect(followed.get(HOTLIST_FULL_TOPIC)).toBe(false);
    expect(outbox.hotlisted(TAG)).toBe('opposed');
  });

  it('a live hotlist tells the time; a retained one does not', () => {
    push(HOTLIST_TOPIC, hotlist({ full: true, base: 0, version: 1, issuedAt: NOW - 5000 }));
    expect(outbox.gatewayTime()).toBeUndefined();
    push(HOTLIST_TOPIC, hotlist({ full: true, base: 0, version: 1, issuedAt: NOW - 1000 }), false);
    expect(outbox.gatewayTime()).toEqual({ gatewayAt: NOW - 1000, localAt: NOW });
  });

  describe('the offline judgement', () => {
    beforeEach(() => {
      push(POLICY_TOPIC, policy(1));
      push(HOTLIST_TOPIC, hotlist({ full: true, base: 0, version: 1, entries: [{ tag: TAG, reason: 'opposed' }] }), false);
      monotonic = 1000;
    });
    const tapped = (ref: string, tag: string): Tapped => ({ ref, tag });

    it('judges from what is held: the policy, the hotlist by the tag of the card just read, and the time since contact', () => {
      expect(trust.judge(SALE, card('r1'), tapped('r1', 'U'.repeat(22)))).toEqual({ ok: true });
      expect(trust.judge(SALE, card('r1'), tapped('r1', TAG))).toEqual({ ok: false, code: 'OFFLINE_CARD_HOTLISTED' });
      expect(trust.view(card('r1'), undefined).clock).toEqual({ now: NOW, lastContact: { gatewayAt: NOW, localAt: NOW }, monotonicSinceContactMs: 1000 });
    });

    it('a card whose tag was not kept with its sale is treated as listed; a QR code is refused before the hotlist matters', () => {
      expect(trust.view(card('r1'), tapped('other-sale', 'U'.repeat(22))).cardHotlisted).toBe('soft');
      expect(trust.view(card('r1'), undefined).cardHotlisted).toBe('soft');
      const qr: CredentialDraft = { kind: 'qr', cardNumber: CARD, pinBlock: 'x' };
      expect(trust.view(qr, undefined).cardHotlisted).toBeNull();
      expect(trust.judge(SALE, qr, undefined)).toEqual({ ok: false, code: 'OFFLINE_QR_REFUSED' });
    });
  });
});
