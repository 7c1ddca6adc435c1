import { isPasserelleError } from '../../protocol/errors.ts';

/** What `fn` threw: its stable code and message; 'none' if it returned; 'other' if it threw something else. */
export function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    return isPasserelleError(e) ? { code: e.code, message: e.message } : { code: 'other', message: String(e) };
  }
  return { code: 'none', message: '' };
}

/** The stable code `fn` threw with (see `thrown`). */
export function codeOf(fn: () => unknown): string {
  return thrown(fn).code;
}
