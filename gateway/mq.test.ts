import { describe, expect, it } from 'vitest';
import { boundedEmitter } from './mq.ts';

describe('the broker bus', () => {
  it('drains a long queue of messages nobody follows without overflowing the stack, each one delivered or released in order', async () => {
    const mq = boundedEmitter(1);
    let hold: (() => void) | undefined;
    const seen: number[] = [];
    mq.on('held', (_m, done) => {
      hold = done;
    });
    mq.on('kept', (m, done) => {
      seen.push((m as unknown as { n: number }).n);
      done();
    });
    // One slot, held: everything after it queues.
    mq.emit({ topic: 'held' });
    const n = 20_000;
    let released = 0;
    for (let i = 0; i < n; i++) mq.emit({ topic: i % 1000 === 999 ? 'kept' : 'nobody', n: i }, () => released++);
    expect(released).toBe(0);
    hold!();
    for (let i = 0; i < 200 && released < n; i++) await new Promise((r) => setTimeout(r, 5));
    expect(released).toBe(n);
    expect(seen).toEqual(Array.from({ length: n / 1000 }, (_, k) => k * 1000 + 999));
  });
});
