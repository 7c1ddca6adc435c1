import { opendir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_FRAME_BYTES } from '../../qr-decode.ts';
import { checkInt, isNotFound, sleepMs, unavailable, type FrameSource } from './frame-source.ts';

export interface DirectoryFrameSourceOptions {
  /** How often an empty directory is looked at again; default 100 ms. */
  readonly pollIntervalMs?: number;
  /** Larger files are deleted unread; default 16 MiB. */
  readonly maxFrameBytes?: number;
  /** Older files (by modification time) are deleted unread, so an old frame never pays; default 5 s. */
  readonly maxFrameAgeMs?: number;
  /** Directory entries looked at per scan; default 1000. */
  readonly maxEntriesPerScan?: number;
  /** Wall-clock milliseconds, compared with file times; injected by tests. */
  readonly nowMs?: () => number;
}

export interface DirectoryFrameSourceStats {
  frames: number;
  stale: number;
  oversized: number;
}

const FRAME_FILE = /^[^.].*\.(png|jpe?g)$/i;

interface SpoolEntry {
  readonly path: string;
  readonly name: string;
  readonly mtimeMs: number;
  readonly size: number;
}

/**
 * Frames dropped as `.png`, `.jpg` or `.jpeg` files in a spool directory by a capture program, read
 * oldest first and deleted once read. Writers must write under a name starting with a dot (or another
 * extension) and rename when done, so a half-written file is never read. Stale and oversized files are
 * deleted unread, which also keeps the directory from growing while no sale reads.
 */
export class DirectoryFrameSource implements FrameSource {
  readonly stats: DirectoryFrameSourceStats = { frames: 0, stale: 0, oversized: 0 };
  readonly #dir: string;
  readonly #pollIntervalMs: number;
  readonly #maxFrameBytes: number;
  readonly #maxFrameAgeMs: number;
  readonly #maxEntriesPerScan: number;
  readonly #nowMs: () => number;
  #closed = false;

  constructor(dir: string, opts: DirectoryFrameSourceOptions = {}) {
    this.#dir = dir;
    this.#pollIntervalMs = checkInt('pollIntervalMs', opts.pollIntervalMs ?? 100, 1, 60_000);
    this.#maxFrameBytes = checkInt('maxFrameBytes', opts.maxFrameBytes ?? MAX_FRAME_BYTES, 1, MAX_FRAME_BYTES);
    this.#maxFrameAgeMs = checkInt('maxFrameAgeMs', opts.maxFrameAgeMs ?? 5_000, 1, 24 * 3_600_000);
    this.#maxEntriesPerScan = checkInt('maxEntriesPerScan', opts.maxEntriesPerScan ?? 1000, 1, 1_000_000);
    this.#nowMs = opts.nowMs ?? Date.now;
  }

  async nextFrame(signal: AbortSignal): Promise<Buffer> {
    // Polls until a frame arrives; the signal (the sale moving on) or a failure ends the wait.
    for (;;) {
      if (signal.aborted) throw signal.reason;
      if (this.#closed) throw unavailable('The camera spool was closed.');
      const frame = await this.#takeOldest();
      if (frame !== null) return frame;
      await sleepMs(this.#pollIntervalMs, signal);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async #takeOldest(): Promise<Buffer | null> {
    const entries = await this.#scan();
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const nowMs = this.#nowMs();
    for (const entry of entries) {
      if (nowMs - entry.mtimeMs > this.#maxFrameAgeMs) {
        this.stats.stale++;
        await this.#remove(entry.path);
      } else if (entry.size > this.#maxFrameBytes) {
        this.stats.oversized++;
        await this.#remove(entry.path);
      } else {
        const frame = await this.#read(entry.path);
        if (frame !== null) return frame;
      }
    }
    return null;
  }

  async #scan(): Promise<SpoolEntry[]> {
    const entries: SpoolEntry[] = [];
    try {
      const dir = await opendir(this.#dir);
      let seen = 0;
      for await (const dirent of dir) {
        // Leaving the loop early closes the directory handle.
        if (++seen > this.#maxEntriesPerScan) break;
        if (!dirent.isFile() || !FRAME_FILE.test(dirent.name)) continue;
        const entry = await this.#describe(dirent.name);
        if (entry !== null) entries.push(entry);
      }
    } catch (e) {
      throw unavailable(`The camera spool directory ${this.#dir} cannot be read.`, e);
    }
    return entries;
  }

  async #describe(name: string): Promise<SpoolEntry | null> {
    const path = join(this.#dir, name);
    try {
      const s = await stat(path);
      return { path, name, mtimeMs: s.mtimeMs, size: s.size };
    } catch (e) {
      if (isNotFound(e)) return null; // Removed between the listing and now.
      throw e;
    }
  }

  /** Reads and deletes one frame; null if it vanished meanwhile. */
  async #read(path: string): Promise<Buffer | null> {
    let frame: Buffer;
    try {
      frame = await readFile(path);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw unavailable(`The camera frame ${path} cannot be read.`, e);
    }
    await this.#remove(path);
    // The size was checked before reading, but the file may have grown since.
    if (frame.length > this.#maxFrameBytes) {
      this.stats.oversized++;
      return null;
    }
    this.stats.frames++;
    return frame;
  }

  /** A frame that cannot be deleted would be read again and again: the spool is unusable. */
  async #remove(path: string): Promise<void> {
    try {
      await unlink(path);
    } catch (e) {
      if (!isNotFound(e)) throw unavailable(`The camera frame ${path} cannot be deleted.`, e);
    }
  }
}

