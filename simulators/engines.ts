import pg from 'pg';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The region-scale engines the tests run for themselves (architecture.md): a PostgreSQL cluster made with
 * initdb in a temporary directory, and a Mosquitto broker with its own configuration, each on a free port
 * of 127.0.0.1, started and stopped by pid. The machine's own PostgreSQL (5432) and Mosquitto (1883) are
 * never used. Also the TypeScript child processes they start (a gateway to kill, a second gateway).
 */

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A free TCP port on 127.0.0.1 (the OS picks one, then it is released for the engine to take). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** Until something accepts connections on the port, or `timeoutMs` (a bounded loop). */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class TestPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    public pid: number,
    readonly options: string,
  ) {}

  /** `postgres://passerelle@127.0.0.1:<port>/postgres` (trust authentication, loopback only). */
  get url(): string {
    return this.urlOf('postgres');
  }

  urlOf(database: string): string {
    return `postgres://passerelle@127.0.0.1:${this.port}/${database}`;
  }

  /** A new database, empty or a copy of `template` (no one may be connected to it); its url. */
  async createDatabase(name: string, template?: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ''}`);
    } finally {
      await client.end();
    }
    return this.urlOf(name);
  }

  /**
   * A new cluster. PostgreSQL refuses to run as root, so the directory is the `postgres` user's and the
   * commands run as it. `durable: false` (the default) turns fsync off: contract tests need no crash
   * safety and run faster; crash tests ask for `durable: true`.
   */
  static async start(o: { durable?: boolean } = {}): Promise<TestPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-pg-'));
    chmodSync(dir, 0o755);
    chownSync(dir, uid('postgres'), gid('postgres'));
    const data = join(dir, 'data');
    await run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'passerelle', '-E', 'UTF8', '--locale', 'C', '--no-sync']);
    const port = await freePort();
    const options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', ...(o.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'])].join(' ');
    const pg = new TestPostgres(dir, port, 0, options);
    await pg.#start();
    return pg;
  }

  async #start(): Promise<void> {
    const data = join(this.dir, 'data');
    await run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', data, '-o', this.options, '-l', join(this.dir, 'log'), '-w', '-t', '30', 'start']);
    this.pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  }

  /** The database gone at once, as in a crash (immediate shutdown: every connection cut, nothing flushed). */
  async crash(): Promise<void> {
    await run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', join(this.dir, 'data'), '-m', 'immediate', '-w', '-t', '30', 'stop']);
  }

  /** Back after `crash`, on the same port and files (it recovers from its write-ahead log). */
  async restart(): Promise<void> {
    await this.#start();
  }

  /** Stop by pid (fast shutdown), wait for it, and remove the cluster. */
  async stop(): Promise<void> {
    if (alive(this.pid)) process.kill(this.pid, 'SIGINT');
    const until = Date.now() + 20_000;
    while (alive(this.pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    if (alive(this.pid)) process.kill(this.pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export class TestMosquitto {
  private constructor(
    readonly dir: string,
    readonly port: number,
    public child: ChildProcess,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /**
   * A broker on a free port; `config` lines are added to its configuration (ACLs, plugins…). `dynsec`: the
   * dynamic security plugin, its file made by `mosquitto_ctrl dynsec init` with this admin account (the
   * gateway's), anonymous clients refused.
   */
  static async start(o: { config?: readonly string[]; dynsec?: { readonly user: string; readonly password: string } } = {}): Promise<TestMosquitto> {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-mosquitto-'));
    chmodSync(dir, 0o755);
    const port = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    let lines = o.config ?? ['allow_anonymous true'];
    if (o.dynsec) {
      const file = join(dir, 'dynamic-security.json');
      await run('mosquitto_ctrl', ['dynsec', 'init', file, o.dynsec.user, o.dynsec.password]);
      // Mosquitto drops root for its own user, and the plugin rewrites its file on every change.
      chownSync(dir, uid('mosquitto'), gid('mosquitto'));
      chownSync(file, uid('mosquitto'), gid('mosquitto'));
      lines = ['allow_anonymous false', `plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${file}`, ...(o.config ?? [])];
    }
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', ...lines].join('\n') + '\n');
    chmodSync(conf, 0o644);
    const broker = new TestMosquitto(dir, port, await TestMosquitto.#spawn(dir, port));
    return broker;
  }

  static async #spawn(dir: string, port: number): Promise<ChildProcess> {
    const child = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
    try {
      await Promise.race([
        listening(port, 10_000),
        new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`mosquitto exited ${code}: ${stderr}`)))),
      ]);
    } catch (e) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return child;
  }

  /** Kill the broker (SIGKILL: no goodbye to its clients) and start it again on the same port and files. */
  async restart(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
    this.child = await TestMosquitto.#spawn(this.dir, this.port);
  }

  /** Stop by pid and wait for the exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function uid(user: string): number {
  return idOf(user, 2);
}
function gid(user: string): number {
  return idOf(user, 3);
}
function idOf(user: string, field: number): number {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user} (is the postgresql package installed?)`);
  return Number(line.split(':')[field]);
}

/** Start a TypeScript child (tsx loader) and resolve once it prints `ready`. */
export function startChild(script: string, env: Record<string, string>, onExit?: (code: number | null) => void): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.on('exit', (code) => {
    if (code !== null && code !== 0) process.stderr.write(`${script} exited ${code}: ${err.slice(-2000)}\n`);
    onExit?.(code);
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} not ready in 20 s: ${err.slice(-2000)}`)), 20_000);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${script} exited ${code} before ready: ${err.slice(-2000)}`));
    });
  });
}
