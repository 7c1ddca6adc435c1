import { setTimeout as sleep } from 'node:timers/promises';
import type { Code } from '../../protocol/codes.ts';
import { isPasserelleError } from '../../protocol/errors.ts';

/**
 * What `fn` threw or rejected with: its stable code and message; 'none' if it returned; 'other' if it threw
 * something else.
 */
export async function thrown(fn: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await fn();
  } catch (e) {
    return isPasserelleError(e) ? { code: e.code, message: e.message } : { code: 'other', message: String(e) };
  }
  return { code: 'none', message: '' };
}

/** The stable code `fn` threw with (see `thrown`). */
export async function codeOf(fn: () => unknown): Promise<string> {
  return (await thrown(fn)).code;
}

/** The stable code a promise rejected with; `resolved` if it resolved; 'other' if it rejected with something else. */
export async function settledCode<R extends string = 'resolved'>(p: Promise<unknown>, resolved: R = 'resolved' as R): Promise<Code | R | 'other'> {
  try {
    await p;
    return resolved;
  } catch (e) {
    return isPasserelleError(e) ? e.code : 'other';
  }
}

/** Polls `condition` every 5 ms, at most 400 times: no test waits forever. */
export async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}
