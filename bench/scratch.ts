import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Scratch directories for the benchmarks that measure durable commits: on a real disk, never on tmpfs
 * (where fsync is free and the figure would mean nothing). The system temporary directory is used when it
 * is on disk; otherwise `.bench-tmp/` at the project root, removed again when the last one is released.
 */

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
const PROJECT_TMP = fileURLToPath(new URL('../.bench-tmp/', import.meta.url));

export interface ScratchDir {
  readonly path: string;
  /** The file system type as statfs reports it (for the report). */
  readonly fsType: string;
  remove(): void;
}

function fsTypeOf(path: string): number {
  return statfsSync(path).type;
}

function describe(type: number): string {
  if (type === TMPFS_MAGIC) return 'tmpfs';
  if (type === RAMFS_MAGIC) return 'ramfs';
  if (type === 0xef53) return 'ext4';
  if (type === 0x58465342) return 'xfs';
  if (type === 0x9123683e) return 'btrfs';
  if (type === 0x794c7630) return 'overlayfs';
  return `0x${type.toString(16)}`;
}

export function scratchDir(prefix: string): ScratchDir {
  const sys = tmpdir();
  const sysType = fsTypeOf(sys);
  const onDisk = sysType !== TMPFS_MAGIC && sysType !== RAMFS_MAGIC;
  if (!onDisk) mkdirSync(PROJECT_TMP, { recursive: true });
  const path = mkdtempSync(join(onDisk ? sys : PROJECT_TMP, prefix));
  return {
    path,
    fsType: describe(fsTypeOf(path)),
    remove() {
      rmSync(path, { recursive: true, force: true });
      if (!onDisk) {
        try {
          rmdirSync(PROJECT_TMP);
        } catch {
          // Another scratch directory is still in use.
        }
      }
    },
  };
}

/** The value at quantile `p` (0..1) of an ascending array. */
export function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Wrap `obj[name]` so that the duration of every call goes to `record` (for an async method, until its
 * promise settles): the benchmarks' own instrumentation. Returns the undo; nothing is changed for good.
 */
export function timeCalls<T extends object>(obj: T, name: keyof T & string, record: (ms: number) => void): () => void {
  const original = obj[name] as unknown as (...a: unknown[]) => unknown;
  (obj as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    let result: unknown;
    try {
      result = original.apply(this, args);
    } catch (e) {
      record(performance.now() - t0);
      throw e;
    }
    if (result instanceof Promise) return result.finally(() => record(performance.now() - t0));
    record(performance.now() - t0);
    return result;
  };
  return () => void ((obj as Record<string, unknown>)[name] = original);
}
