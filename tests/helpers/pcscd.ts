import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A private pcscd for one test file, with vsmartcard's virtual reader (vpcd) on free TCP ports.
 *
 * Isolation. libpcsclite (the client side) honours `PCSCLITE_CSOCK_NAME`, but pcscd 1.9.9 does not: the
 * daemon always creates `/run/pcscd/pcscd.comm` itself… unless systemd hands it a listening socket. So we
 * do what systemd does: we create the listening Unix socket in a temp dir and pass it as fd 3 with
 * `LISTEN_FDS=1` and `LISTEN_PID=<pcscd's pid>`; pcscd then serves that socket and never touches
 * `/run/pcscd/pcscd.comm`. The test process points libpcsclite at it through `PCSCLITE_CSOCK_NAME`, set
 * in `process.env` before anything opens a PC/SC context (libpcsclite reads it once per process; vitest
 * runs each test file in its own child process, so `process.env` reaches the C library).
 *
 * What is still shared with a system pcscd: pcscd writes and, on exit, removes `/run/pcscd/pcscd.pid`
 * (it needs `/run/pcscd` to exist or to be creatable, so run as root or have the directory). A system
 * pcscd's pid file may thus be overwritten or removed while the tests run; nothing else of it is touched.
 *
 * vpcd opens one reader per slot, on consecutive ports: "Virtual PCD 00 00" on `port`, "… 00 01" on
 * `port + 1`; a card is a TCP client of `port`.
 */

export const VPCD_DRIVER_PATHS = ['/usr/lib/pcsc/drivers/serial/libifdvpcd.so', '/usr/lib64/pcsc/drivers/serial/libifdvpcd.so'];
export const PCSCD_PATHS = ['/usr/sbin/pcscd', '/usr/bin/pcscd', '/sbin/pcscd'];
/** The reader vpcd's first slot becomes in PC/SC. */
export const VPCD_READER_NAME = 'Virtual PCD 00 00';

const READY_TIMEOUT_MS = 8000;
const STOP_TERM_MS = 3000;
const STOP_KILL_MS = 2000;
const LOG_BYTES_MAX = 64 * 1024;
const PORT_ATTEMPTS_MAX = 50;
const POLL_MS = 25;

export interface PcscdTools {
  readonly pcscd: string;
  readonly driver: string;
  readonly version: string;
}

/** Finds pcscd and the vpcd driver, or throws with what to install: CI must fail, never skip. */
export function requirePcscdTools(): PcscdTools {
  const pcscd = PCSCD_PATHS.find((p) => existsSync(p));
  const driver = VPCD_DRIVER_PATHS.find((p) => existsSync(p));
  const install = 'install the Debian packages pcscd and vsmartcard-vpcd (CI must have them; these tests never skip)';
  if (!pcscd) throw new Error(`pcscd not found in ${PCSCD_PATHS.join(', ')}: ${install}`);
  if (!driver) throw new Error(`vpcd driver (libifdvpcd.so) not found in ${VPCD_DRIVER_PATHS.join(', ')}: ${install}`);
  const out = execFileSync(pcscd, ['--version'], { encoding: 'utf8', timeout: 5000 });
  const version = /version\s+([0-9][0-9.]*[0-9])/.exec(out)?.[1] ?? 'unknown';
  return { pcscd, driver, version };
}

export interface Pcscd {
  readonly version: string;
  /** The private client socket; `process.env.PCSCLITE_CSOCK_NAME` names it. */
  readonly socketPath: string;
  /** vpcd's first slot: where a VpcdCard connects. */
  readonly vpcdPort: number;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Stops pcscd (the virtual reader vanishes); SIGKILL skips its clean exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts pcscd again on the same socket and ports (the reader comes back). */
  start(): Promise<void>;
  /** Stops pcscd and removes the temp dir. */
  dispose(): Promise<void>;
  /** The tail of pcscd's output, for failure messages. */
  log(): string;
}

/**
 * libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process and keeps it, so every private pcscd of this
 * process must serve the same path: a second path would leave new PC/SC contexts spinning on the first
 * (nfc-pcsc's native constructor retries a missing daemon forever, on the main thread).
 */
let processSocketPath: string | undefined;
let current: Pcscd | undefined;

function clientSocketPath(): string {
  processSocketPath ??= join(tmpdir(), `pcscd-client-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, 'pcscd.comm');
  return processSocketPath;
}

/**
 * Starts a private pcscd and waits until vpcd listens. Sets `process.env.PCSCLITE_CSOCK_NAME`, so call it
 * before any PC/SC context is created in this process. One at a time per process (see above).
 */
export async function startPcscd(): Promise<Pcscd> {
  if (current?.running) throw new Error('a private pcscd is already running in this process: dispose of it first');
  const tools = requirePcscdTools();
  const dir = mkdtempSync(join(tmpdir(), 'pcscd-'));
  try {
    const port = await freePortPair();
    writeFileSync(join(dir, 'vpcd'), readerConf(tools.driver, port));
    const daemon = new PrivatePcscd(tools, dir, clientSocketPath(), port);
    process.env['PCSCLITE_CSOCK_NAME'] = daemon.socketPath;
    await daemon.start();
    current = daemon;
    return daemon;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function readerConf(driver: string, port: number): string {
  const hex = `0x${port.toString(16).toUpperCase()}`;
  return [`FRIENDLYNAME "Virtual PCD"`, `DEVICENAME   /dev/null:${hex}`, `LIBPATH      ${driver}`, `CHANNELID    ${hex}`, ''].join('\n');
}

class PrivatePcscd implements Pcscd {
  readonly version: string;
  readonly socketPath: string;
  readonly vpcdPort: number;
  readonly #tools: PcscdTools;
  readonly #dir: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';
  /** Output since the last start only, so a restart is not taken as ready on the previous run's words. */
  #startLog = '';
  readonly #killOnExit = (): void => {
    if (this.#child?.pid !== undefined && this.#child.exitCode === null) this.#child.kill('SIGKILL');
  };

  constructor(tools: PcscdTools, dir: string, socketPath: string, port: number) {
    this.#tools = tools;
    this.version = tools.version;
    this.#dir = dir;
    this.socketPath = socketPath;
    this.vpcdPort = port;
  }

  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  log(): string {
    return this.#log;
  }

  async start(): Promise<void> {
    if (this.running) return;
    mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    const fresh = `${this.socketPath}.new`;
    const server = await listenUnix(fresh);
    try {
      this.#spawn(server.fd);
      // The socket is bound to its inode, not its name: renaming it publishes it under the name clients
      // use, and closing our copy then unlinks only the old name, leaving pcscd the sole listener.
      if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
      renameSync(fresh, this.socketPath);
    } finally {
      server.close();
    }
    await this.#waitReady();
  }

  #spawn(listenFd: number): void {
    const args = ['-f', '--info', '-c', this.#dir];
    // `exec` keeps the shell's pid, which is how LISTEN_PID can name pcscd before it exists.
    const script = 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"';
    const child = spawn('/bin/sh', ['-c', script, this.#tools.pcscd, ...args], { stdio: ['ignore', 'pipe', 'pipe', listenFd] });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.#startLog = '';
    const keep = (d: Buffer): void => {
      this.#log = (this.#log + d.toString('utf8')).slice(-LOG_BYTES_MAX);
      this.#startLog = (this.#startLog + d.toString('utf8')).slice(-LOG_BYTES_MAX);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    process.once('exit', this.#killOnExit);
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`pcscd exited during start-up:\n${this.#log}`);
      if (this.#startLog.includes('daemon ready') && tcpListening(this.vpcdPort)) return;
      await sleep(POLL_MS);
    }
    await this.stop('SIGKILL');
    throw new Error(`pcscd not ready within ${READY_TIMEOUT_MS} ms (vpcd port ${this.vpcdPort}):\n${this.#log}`);
  }

  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill(signal);
    if (await settlesWithin(this.#exited, signal === 'SIGKILL' ? STOP_KILL_MS : STOP_TERM_MS)) return this.#forget();
    child.kill('SIGKILL');
    if (!(await settlesWithin(this.#exited, STOP_KILL_MS))) throw new Error(`pcscd (pid ${child.pid}) did not exit after SIGKILL`);
    this.#forget();
  }

  #forget(): void {
    process.off('exit', this.#killOnExit);
  }

  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.#dir, { recursive: true, force: true });
      // The path stays reserved for this process (see clientSocketPath); only the files go.
      rmSync(dirname(this.socketPath), { recursive: true, force: true });
    }
  }
}

/** A listening Unix socket and its fd, to hand to pcscd as systemd would. */
async function listenUnix(path: string): Promise<{ fd: number; close: () => void }> {
  if (existsSync(path)) unlinkSync(path);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  // Node has no public way to read a server's fd; `_handle.fd` is stable on Unix and is all we need.
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    server.close();
    throw new Error('cannot read the listening socket fd (node internals changed?)');
  }
  return { fd, close: () => server.close() };
}

/** Two consecutive free ports (vpcd takes one per slot), both free on every interface as vpcd binds. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < PORT_ATTEMPTS_MAX; i++) {
    const port = await bindAndRelease(0);
    if (port === undefined || port >= 65535) continue;
    if ((await bindAndRelease(port + 1)) !== undefined) return port;
  }
  throw new Error(`no two consecutive free TCP ports after ${PORT_ATTEMPTS_MAX} tries`);
}

function bindAndRelease(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

/**
 * True when something listens on TCP `port` (IPv4), read from /proc so that no connection is made: a
 * connection to vpcd's port would look like a card entering the field.
 */
export function tcpListening(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const table = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
  return table.some((line) => {
    const cols = line.trim().split(/\s+/);
    return cols[1]?.endsWith(`:${hexPort}`) === true && cols[3] === '0A';
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const result = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(timer);
  return result;
}

/** Polls `probe` every POLL_MS until it holds, or throws `what` after `timeoutMs`. */
export async function waitUntil(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}
