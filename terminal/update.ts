import { cpSync, existsSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from '../common/log.ts';
import { syncDir } from '../common/files.ts';
import { controlErrorCode } from './control.ts';
import { PasserelleError } from '../protocol/errors.ts';
import type { TerminalConfig } from './config.ts';

/**
 * `passerelle terminal update`: a new version of the terminal software, installed beside the one in force
 * and switched to only when nothing can be lost.
 *
 * Layout (deploy/passerelle-terminal.service): `<root>/releases/<version>/` holds each version whole (its
 * node_modules built for the device), `<root>/current` is a symlink to the one in force, which the service
 * runs; the queue lives in the terminal's own directory, never in a release.
 *
 * 1. The release is copied to `releases/<version>` (a directory with the project's package.json).
 * 2. The running service goes into maintenance: no new sale; the sale in progress finishes. The update waits
 *    (bounded by `drainTimeoutS`) until no sale runs and the outbox holds nothing unacknowledged; if not,
 *    maintenance ends, nothing is switched, and it fails with QUEUE_NOT_EMPTY.
 * 3. `current` is switched with one rename (atomic), then the service is asked to stop; its supervisor
 *    (systemd's Restart=always) starts it again from `current`.
 * 4. The new version must come up within `checkTimeoutS`: its control endpoint answers with the new
 *    version, every configured device opened, and the link is online with the gateway (a signed contact).
 *    If not, `current` goes back to the previous version, the new one is stopped, the previous one is
 *    waited for, and the update fails with UPDATE_ROLLED_BACK.
 */

export interface UpdateOptions {
  readonly root: string;
  /** The new version: a directory holding the project (package.json, bin/, node_modules/). */
  readonly release: string;
  readonly config: TerminalConfig;
  readonly drainTimeoutS?: number;
  readonly checkTimeoutS?: number;
  readonly log: Logger;
  /** Progress for the technician (French). */
  readonly say?: (line: string) => void;
}

export interface Updated {
  readonly from: string;
  readonly to: string;
}

interface ControlFile {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
}

interface Status {
  readonly version: string;
  readonly pid: number;
  readonly state: string;
  readonly link: { readonly state: string };
  readonly outbox: { readonly pending: number };
  readonly devices: Readonly<Record<string, string>>;
}

const POLL_MS = 200;

export function versionOf(dir: string): string {
  const file = join(dir, 'package.json');
  let pkg: { name?: unknown; version?: unknown };
  try {
    pkg = JSON.parse(readFileSync(file, 'utf8')) as typeof pkg;
  } catch (e) {
    throw new PasserelleError('CONFIG_INVALID', `${file}: not a Passerelle release (${(e as Error).message})`);
  }
  if (pkg.name !== 'passerelle' || typeof pkg.version !== 'string' || !/^[0-9A-Za-z.+-]{1,40}$/.test(pkg.version)) {
    throw new PasserelleError('CONFIG_INVALID', `${file}: not a Passerelle release (name passerelle and a version expected)`);
  }
  return pkg.version;
}

/** Point `link` at `target` with one rename, so a reader sees the old target or the new one, never none. */
export function switchLink(link: string, target: string): void {
  const tmp = `${link}.next-${process.pid}`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, link);
  syncDir(dirname(link));
}

export async function updateTerminal(o: UpdateOptions): Promise<Updated> {
  const say = o.say ?? (() => undefined);
  const root = resolve(o.root);
  const current = join(root, 'current');
  if (!existsSync(current)) throw new PasserelleError('CONFIG_INVALID', `${current} does not exist: install the first version as ${root}/releases/<version> with current pointing to it`);
  const previous = resolve(root, readlinkSync(current));
  const from = versionOf(previous);
  const to = versionOf(o.release);
  if (to === from) throw new PasserelleError('CONFIG_INVALID', `version ${to} is already in force`);

  // 1. Installed beside the current one (copied whole, then renamed into place).
  const dest = join(root, 'releases', to);
  if (resolve(o.release) !== dest) {
    const tmp = `${dest}.partial-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    cpSync(o.release, tmp, { recursive: true, verbatimSymlinks: true });
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
  }
  say(`Version ${to} installée à côté de la version ${from}.`);

  // 2. The queue drained, no sale cut.
  const controlFile = o.config.control.file ?? join(dirname(o.config.outboxFile), 'control.json');
  const drainS = o.drainTimeoutS ?? 120;
  const checkS = o.checkTimeoutS ?? 60;
  const control = readControl(controlFile);
  await call(control, 'POST', '/v1/maintenance', { on: true, forS: drainS + checkS + 60 });
  say('Ventes suspendues le temps de la mise à jour ; envoi des ventes en attente…');
  const drained = await poll(control, drainS, (s) => (s.state === 'idle' || s.state === 'finished') && s.outbox.pending === 0);
  if (!drained.ok) {
    await call(control, 'POST', '/v1/maintenance', { on: false }).catch(() => undefined);
    const pending = drained.last?.outbox.pending;
    throw new PasserelleError('QUEUE_NOT_EMPTY', `after ${drainS} s, ${pending ?? 'an unknown number of'} records still wait for the gateway (or a sale runs): nothing was switched; version ${from} sells again`);
  }

  // 3. Switched, and the service restarted on the new version by its supervisor.
  switchLink(current, dest);
  o.log.info({ from, to }, 'update: current switched; restarting the service');
  say(`Bascule vers la version ${to} ; redémarrage du service…`);
  await call(control, 'POST', '/v1/shutdown');

  // 4. The new version proves itself, or the previous one comes back.
  const checked = await awaitService(controlFile, control.pid, checkS, (s) => s.version === to && s.link.state === 'online' && Object.values(s.devices).every((d) => d === 'ok' || d === 'none'));
  if (checked.ok) {
    say(`Version ${to} en service : appareils prêts, serveur joint.`);
    return { from, to };
  }
  o.log.error({ from, to, last: checked.last }, 'update: the new version did not prove itself; switching back');
  say(`La version ${to} ne s'est pas montrée prête (${why(checked.last, to)}) : retour à la version ${from}…`);
  switchLink(current, previous);
  if (checked.control && checked.last?.version === to) await call(checked.control, 'POST', '/v1/shutdown').catch(() => undefined);
  const back = await awaitService(controlFile, checked.control?.pid ?? control.pid, checkS, (s) => s.version === from);
  if (back.ok && back.control) await call(back.control, 'POST', '/v1/maintenance', { on: false }).catch(() => undefined);
  throw new PasserelleError(
    'UPDATE_ROLLED_BACK',
    `version ${to} did not come up ready within ${checkS} s (${why(checked.last, to)}); version ${from} is in force again${back.ok ? ' and running' : ', not yet answering: check the service'}`,
  );
}

function why(last: Status | undefined, to: string): string {
  if (!last || last.version !== to) return 'never answered';
  const failed = Object.entries(last.devices).filter(([, d]) => d !== 'ok' && d !== 'none');
  if (failed.length > 0) return `devices ${failed.map(([n, d]) => `${n} ${d}`).join(', ')}`;
  return `link ${last.link.state}`;
}

function readControl(file: string): ControlFile {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ControlFile;
  } catch (e) {
    throw new PasserelleError('CONFIG_INVALID', `${basename(file)}: the terminal service does not run (${(e as Error).message}); start it before updating`);
  }
}

async function call(c: ControlFile, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${c.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${c.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(5000),
  });
  const json = (await res.json().catch(() => undefined)) as unknown;
  if (!res.ok) throw new PasserelleError(controlErrorCode(json) ?? 'CONFIG_INVALID', `the terminal service refused ${method} ${path} (${res.status})`);
  return json;
}

async function poll(c: ControlFile, timeoutS: number, done: (s: Status) => boolean): Promise<{ ok: boolean; last: Status | undefined }> {
  const end = Date.now() + timeoutS * 1000;
  let last: Status | undefined;
  for (;;) {
    last = (await call(c, 'GET', '/v1/status').catch(() => undefined)) as Status | undefined;
    if (last && done(last)) return { ok: true, last };
    if (Date.now() > end) return { ok: false, last };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Wait for a service other than process `oldPid` to write its control file and satisfy `done`. */
async function awaitService(file: string, oldPid: number, timeoutS: number, done: (s: Status) => boolean): Promise<{ ok: boolean; last: Status | undefined; control: ControlFile | undefined }> {
  const end = Date.now() + timeoutS * 1000;
  let last: Status | undefined;
  let control: ControlFile | undefined;
  for (;;) {
    const c = existsSync(file) ? (() => { try { return readControl(file); } catch { return undefined; } })() : undefined;
    if (c && c.pid !== oldPid) {
      control = c;
      last = ((await call(c, 'GET', '/v1/status').catch(() => undefined)) as Status | undefined) ?? last;
      if (last && done(last)) return { ok: true, last, control };
    }
    if (Date.now() > end) return { ok: false, last, control };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
