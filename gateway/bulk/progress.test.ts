import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from './progress.ts';

/** A stream that keeps what is written, as a pipe or a CI log would receive it. */
function fakeStream(isTTY: boolean): { stream: Writable & { isTTY: boolean; columns: number }; text: () => string } {
  const parts: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        parts.push(chunk.toString());
        done();
      },
    }),
    { isTTY, columns: 120 },
  );
  return { stream, text: () => parts.join('') };
}

describe('progress without a terminal', () => {
  it('prints one plain line per 10 % however many updates there are', () => {
    const { stream, text } = fakeStream(false);
    const progress = createProgress({ total: 370_000, label: 'loading cards', stream });
    for (let v = 0; v <= 370_000; v += 500) progress.update(v);
    progress.stop();
    const lines = text().trimEnd().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe('loading cards: 0 % (0/370,000)');
    expect(lines[4]).toBe('loading cards: 40 % (148,000/370,000)');
    expect(lines[10]).toBe('loading cards: 100 % (370,000/370,000)');
  });

  it('prints once for a jump over several tenths, and ends with where it stopped', () => {
    const { stream, text } = fakeStream(false);
    const progress = createProgress({ total: 1000, label: 'cards', stream });
    progress.update(50);
    progress.update(730);
    progress.update(790);
    progress.update(812);
    progress.stop();
    progress.stop();
    expect(text()).toBe(['cards: 5 % (50/1,000)', 'cards: 73 % (730/1,000)', 'cards: 81 % (812/1,000)', ''].join('\n'));
  });

  it('shows bytes in megabytes and treats a total of 0 as done', () => {
    const bytes = fakeStream(false);
    const p = createProgress({ total: 29_176_059, label: 'reading', stream: bytes.stream, unit: 'bytes' });
    p.update(14_600_000);
    p.stop();
    expect(bytes.text()).toBe('reading: 50 % (14.6 MB/29.2 MB)\n');
    const empty = fakeStream(false);
    const q = createProgress({ total: 0, label: 'nothing', stream: empty.stream });
    q.update(0);
    q.stop();
    expect(empty.text()).toBe('nothing: 100 % (0/0)\n');
  });
});

describe('progress on a terminal', () => {
  it('draws a cli-progress bar with the label, percent and rate', () => {
    const { stream, text } = fakeStream(true);
    const progress = createProgress({ total: 200, label: 'loading cards', stream });
    progress.update(100);
    progress.stop();
    expect(text()).toContain('loading cards [');
    expect(text()).toMatch(/50 % \| 100\/200 \| [\d,]+\/s/);
  });
});
