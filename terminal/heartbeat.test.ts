import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { defaultVerifier, nodeSigner } from '../protocol/crypto.ts';
import { decodeFrame, verifyFrame } from '../protocol/frame.ts';
import { Heartbeat, type HeartbeatBody } from '../protocol/heartbeat.ts';
import { parseCanonicalJson } from '../protocol/messages.ts';
import { ManualClock } from '../tests/helpers/manual-clock.ts';
import { HeartbeatReporter } from './heartbeat.ts';
import type { Link } from './link.ts';

const signer = nodeSigner(randomBytes(32));

function setup(intervalMs = 60_000) {
  const clock = new ManualClock();
  const state = { up: false, reports: [] as Buffer[], n: 0 };
  const link = { isUp: () => state.up, report: (f: Buffer) => state.up && state.reports.push(f) > 0 } as unknown as Link;
  const snapshot = (): HeartbeatBody => ({
    terminalId: 'T-TEST-01',
    sentAt: clock.now(),
    startedAt: 0,
    software: '1.2.3',
    policyVersion: null,
    hotlistVersion: null,
    settingsVersion: null,
    queue: { pending: ++state.n, oldestPendingAt: null, offlinePending: 0, offlinePendingCents: 0 },
    devices: { nfc: 'ok', pad: 'none', qr: 'none' },
    lastSaleAt: null,
  });
  const r = new HeartbeatReporter({ link, signer, clock, intervalMs: () => intervalMs, snapshot, log: silentLogger });
  return { clock, state, r };
}

describe('the heartbeat reporter', () => {
  it('reports signed heartbeats when the link comes up and every interval while it stays up, nothing while it is down', () => {
    const { clock, state, r } = setup();
    r.start();
    clock.advance(5000);
    expect(state.reports).toHaveLength(0);
    state.up = true;
    clock.advance(1000);
    expect(state.reports).toHaveLength(1);
    clock.advance(59_000);
    expect(state.reports).toHaveLength(1);
    clock.advance(1000);
    expect(state.reports).toHaveLength(2);
    state.up = false;
    clock.advance(300_000);
    expect(state.reports).toHaveLength(2);
    // Back up: reported within a second, not at the next interval.
    state.up = true;
    clock.advance(1000);
    expect(state.reports).toHaveLength(3);
    r.stop();
    clock.advance(600_000);
    expect(state.reports).toHaveLength(3);
    const frame = decodeFrame(state.reports[2]!);
    expect(verifyFrame(frame, signer.publicKey, defaultVerifier())).toBe(true);
    expect(parseCanonicalJson(Heartbeat, frame.message, 'heartbeat').body).toMatchObject({ terminalId: 'T-TEST-01', software: '1.2.3', queue: { pending: 3 } });
  });
});
