import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { saleDraft } from '../outbox.contract.ts';
import { ManualClock } from '../../tests/helpers/manual-clock.ts';
import { Outbox } from '../outbox.ts';
import type { OutboxEntry } from '../outbox-store.ts';
import { Forwarder } from './forwarding.ts';

/** The forwarding window on an outbox in memory, a link that records what it is given, and a clock moved by hand. */

let outbox: Outbox;
let clock: ManualClock;
let up: boolean;
let sent: string[];
let window: Forwarder;

beforeEach(() => {
  outbox = new Outbox({ file: ':memory:', maxPending: 100 });
  clock = new ManualClock();
  up = true;
  sent = [];
  const link = { isUp: () => up, send: (frame: Buffer) => up && sent.push(frame.toString()) > 0 };
  window = new Forwarder({ outbox, link, clock, config: { syncWindow: 2, resendIntervalMs: 100 }, log: silentLogger });
});
afterEach(() => {
  window.stop();
  outbox.close();
});

/** Records a, b, c… on disk, as commits while the link was down leave them. */
function queue(...ids: string[]): OutboxEntry[] {
  return ids.map((id) => outbox.append(saleDraft(id, { mode: 'offline' })));
}
const txnOf = (frame: string) => (JSON.parse(frame.slice('sig:'.length)) as { txnId: string }).txnId;

describe('Forwarder', () => {
  it('forwards in sequence order, at most syncWindow unanswered; an answer frees a place for the next', () => {
    queue('a', 'b', 'c');
    window.linkUp();
    expect(sent.map(txnOf)).toEqual(['a', 'b']);
    window.pump();
    expect(sent).toHaveLength(2);
    outbox.settle([{ kind: 'sale', txnId: 'a', status: 'approved', code: null, taken: 500, guaranteed: 0, reply: Buffer.from('r') }], 0);
    window.answered('a');
    window.pump();
    expect(sent.map(txnOf)).toEqual(['a', 'b', 'c']);
  });

  it('resends what stays unanswered, with the same bytes, once per interval', () => {
    queue('a');
    window.start();
    window.linkUp();
    clock.advance(99);
    expect(sent).toHaveLength(1);
    clock.advance(1);
    expect(sent.map(txnOf)).toEqual(['a', 'a']);
    window.answered('a');
    clock.advance(500);
    expect(sent).toHaveLength(2);
  });

  it('when the link comes back, the window starts again from the oldest record still pending', () => {
    queue('a', 'b');
    window.linkUp();
    up = false;
    window.pump();
    up = true;
    window.linkUp();
    expect(sent.map(txnOf)).toEqual(['a', 'b', 'a', 'b']);
  });

  it('a new online sale goes at once, ahead of the backlog, and the window fills after it', () => {
    queue('a', 'b');
    const online = outbox.append(saleDraft('now'));
    expect(window.send(online)).toBe(true);
    window.pump();
    expect(sent.map(txnOf)).toEqual(['now', 'a']);
  });

  it('resends the records the gateway says it lacks, answered or not, and tracks only the pending ones', () => {
    queue('a', 'b');
    outbox.settle([{ kind: 'sale', txnId: 'a', status: 'approved', code: null, taken: 500, guaranteed: 0, reply: Buffer.from('r') }], 0);
    window.start();
    window.resendMissing([1, 2, 9]);
    expect(sent.map(txnOf)).toEqual(['a', 'b']);
    clock.advance(100);
    expect(sent.map(txnOf)).toEqual(['a', 'b', 'b']);
  });

  it('sends nothing once stopped', () => {
    queue('a');
    window.start();
    window.stop();
    window.linkUp();
    clock.advance(1000);
    expect(sent).toEqual([]);
  });
});
