import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PasserelleError } from '../../../protocol/errors.ts';
import { WalSync } from './wal-sync.ts';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-walsync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

type Done = (err: NodeJS.ErrnoException | null) => void;

/** A WAL file and a hand-driven fdatasync: each call waits until the test finishes it. */
function driven() {
  const file = join(dir, `wal-${++n}`);
  writeFileSync(file, 'frames');
  const pending: Done[] = [];
  const sync = new WalSync(file, (_fd, done) => pending.push(done));
  return { sync, pending };
}

const settled = async (p: Promise<unknown>) => {
  let state = 'pending';
  p.then(() => (state = 'resolved'), () => (state = 'rejected'));
  await new Promise((r) => setImmediate(r));
  return state;
};

describe('WalSync: the WAL synced on the thread pool, shared by the commits made meanwhile', () => {
  it('runs a real fdatasync of the file', async () => {
    const file = join(dir, 'real-wal');
    writeFileSync(file, 'frames');
    const s = new WalSync(file);
    await s.sync();
    await s.sync();
    expect(s.syncs).toBe(2);
    s.close();
  });

  it('runs one sync at a time: calls made while one runs share the next, which starts only when it ends', async () => {
    const { sync, pending } = driven();
    const first = sync.sync();
    const second = sync.sync();
    const third = sync.sync();
    expect(pending).toHaveLength(1);
    expect(sync.syncs).toBe(1);
    // The second and third calls may have written frames after the first sync began: they wait for another.
    pending[0]!(null);
    expect(await settled(first)).toBe('resolved');
    expect(await settled(second)).toBe('pending');
    expect(pending).toHaveLength(2);
    expect(sync.syncs).toBe(2);
    pending[1]!(null);
    await expect(second).resolves.toBeUndefined();
    await expect(third).resolves.toBeUndefined();
    expect(sync.syncs).toBe(2);
    sync.close();
  });

  it('once a sync fails, fails every waiting and later call with LEDGER_FAILED (the kernel may have dropped the pages)', async () => {
    const { sync, pending } = driven();
    const first = sync.sync();
    const waiting = sync.sync();
    pending[0]!(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const e = await first.then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(PasserelleError);
    expect((e as PasserelleError).code).toBe('LEDGER_FAILED');
    expect((e as PasserelleError).message).toMatch(/EIO.*restart the gateway/);
    await expect(waiting).rejects.toBe(e);
    // No later sync is even attempted: it could not vouch for the dropped pages.
    await expect(sync.sync()).rejects.toBe(e);
    expect(pending).toHaveLength(1);
    sync.close();
  });

  it('fails with LEDGER_FAILED when the WAL file cannot be opened', async () => {
    const s = new WalSync(join(dir, 'no-such-dir', 'wal'));
    await expect(s.sync()).rejects.toMatchObject({ code: 'LEDGER_FAILED' });
    await expect(s.sync()).rejects.toMatchObject({ code: 'LEDGER_FAILED' });
  });

  it('after close, lets a running sync end and refuses the next', async () => {
    const { sync, pending } = driven();
    const running = sync.sync();
    const next = sync.sync();
    sync.close();
    pending[0]!(null);
    await expect(running).resolves.toBeUndefined();
    await expect(next).rejects.toMatchObject({ code: 'LEDGER_FAILED', message: 'the ledger is closed' });
    expect(pending).toHaveLength(1);
  });
});
