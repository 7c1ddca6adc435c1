import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real pseudo-terminal pair made by socat, standing in for the serial cable between the terminal and
 * the PIN pad: what is written on one end is read on the other, through the kernel's tty layer, so the
 * real serialport binding (bindings-cpp) runs exactly as it would on a USB-serial adapter.
 *
 * A missing socat is a failure with a clear message, never a skip: a test that silently does not run
 * proves nothing.
 */

export interface PtyPair {
  /** The terminal's end (a symlink to /dev/pts/N). */
  readonly terminalPath: string;
  readonly padPath: string;
  readonly pid: number;
  /** True until socat exits (stopped, killed, or crashed). */
  readonly running: boolean;
  /** Kill socat (if still running), wait for it to exit, remove the temp directory. Idempotent. */
  stop(): Promise<void>;
}

const LINK_WAIT_STEP_MS = 20;
const LINK_WAIT_STEPS = 150;
const EXIT_WAIT_MS = 2_000;
const STDERR_KEEP_BYTES = 8 * 1024;

export function requireSocat(): void {
  const probe = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  if (probe.error) {
    throw new Error(`socat is required for the PIN pad pty tests but could not be run (${probe.error.message}); install it with: apt-get install socat`);
  }
}

export async function startPtyPair(): Promise<PtyPair> {
  requireSocat();
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-pty-'));
  const terminalPath = join(dir, 'term');
  const padPath = join(dir, 'pad');
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${terminalPath}`, `pty,raw,echo=0,link=${padPath}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_KEEP_BYTES);
  });
  const stop = (): Promise<void> => stopSocat(child, dir);
  try {
    await waitForLinks(child, [terminalPath, padPath], () => stderr);
  } catch (e) {
    await stop();
    throw e;
  }
  if (child.pid === undefined) throw new Error('socat started without a pid');
  return {
    terminalPath,
    padPath,
    pid: child.pid,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    stop,
  };
}

/** Both links exist and socat says its transfer loop runs; a bounded number of short waits. */
async function waitForLinks(child: ChildProcess, paths: readonly string[], stderr: () => string): Promise<void> {
  for (let step = 0; step < LINK_WAIT_STEPS; step++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`socat exited (${child.exitCode ?? child.signalCode}) before the pty pair was ready:\n${stderr()}`);
    }
    if (paths.every((p) => existsSync(p)) && stderr().includes('starting data transfer loop')) return;
    await new Promise((r) => setTimeout(r, LINK_WAIT_STEP_MS));
  }
  throw new Error(`socat did not create ${paths.join(' and ')} within ${LINK_WAIT_STEP_MS * LINK_WAIT_STEPS} ms:\n${stderr()}`);
}

async function stopSocat(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGTERM');
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), EXIT_WAIT_MS))]);
    if (timedOut && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}
