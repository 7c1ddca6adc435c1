import { closeSync, fdatasync, openSync } from 'node:fs';
import { PasserelleError } from '../../../protocol/errors.ts';

/**
 * The debit batches' durability, off the event loop (issue 14). A batch commits with `synchronous =
 * NORMAL`: SQLite writes its WAL frames (into the OS's cache) and returns without an fsync. Its replies
 * wait for this: one `fdatasync` of the WAL file on libuv's thread pool, shared by every commit made while
 * it was pending. Once it returns, every frame written before it started is on disk, and SQLite's recovery
 * replays a WAL in order up to the last whole commit, so each of those commits survives a power cut, as
 * with `synchronous = FULL`. The event loop meanwhile verifies, decides and commits the next batches, where
 * before it sat in the fsync (42 % of its time at 1,000 debits/s, and the open loop's p99).
 *
 * One sync at a time: a call made while one runs gets the next one, which starts when it ends (its frames
 * may have been written after the running one began). A failed fdatasync poisons this object: the kernel
 * may have dropped the dirty pages it could not write, so no later sync can vouch for them; every call
 * fails from then on, until the gateway restarts and SQLite recovers the file (PostgreSQL's answer to the
 * same problem, "fsyncgate", is to stop).
 */
export class WalSync {
  readonly #path: string;
  readonly #datasync: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;
  #fd: number | undefined;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #failed: PasserelleError | undefined;
  #closed = false;
  /** Syncs started (tests and benchmarks count them). */
  syncs = 0;

  /** `walPath`: the database file's `-wal`, opened at the first sync (SQLite creates it at the first write). */
  constructor(walPath: string, datasync: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void = fdatasync) {
    this.#path = walPath;
    this.#datasync = datasync;
  }

  /** Resolves once everything written to the WAL before this call is on disk; rejects with LEDGER_FAILED. */
  sync(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (!this.#running) {
      this.#running = this.#once().finally(() => (this.#running = undefined));
      return this.#running;
    }
    this.#next ??= this.#running
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined;
        return this.sync();
      });
    return this.#next;
  }

  #once(): Promise<void> {
    this.syncs++;
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new PasserelleError('LEDGER_FAILED', 'the ledger is closed'));
      try {
        this.#fd ??= openSync(this.#path, 'r');
      } catch (e) {
        return reject(this.#fail(e));
      }
      this.#datasync(this.#fd, (err) => (err ? reject(this.#fail(err)) : resolve()));
    });
  }

  #fail(cause: unknown): PasserelleError {
    this.#failed ??= new PasserelleError('LEDGER_FAILED', `the ledger's journal could not be written to disk (${(cause as Error).message}): restart the gateway, which recovers the file; terminals send again what was not answered`, {}, { cause });
    return this.#failed;
  }

  /** Close the file; a sync still running keeps it until it ends (its fd must not be reused under it). */
  close(): void {
    this.#closed = true;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    if (this.#running) void this.#running.catch(() => undefined).finally(() => closeSync(fd));
    else closeSync(fd);
  }
}
