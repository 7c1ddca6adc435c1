import { CODES, type Code } from './codes.ts';

/**
 * An operating error: something the world did (bad input, a device fault, a taken port), named by a
 * stable code from the table. Programmer errors are not PasserelleErrors; they are assertions.
 */
export class PasserelleError extends Error {
  readonly code: Code;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: Code, message?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message ?? CODES[code].en, options);
    this.name = 'PasserelleError';
    this.code = code;
    this.details = details;
  }

  get num(): number {
    return CODES[this.code].num;
  }

  /** The French text for a display or a partner. */
  get fr(): string {
    return CODES[this.code].fr;
  }
}

export function isPasserelleError(e: unknown, code?: Code): e is PasserelleError {
  return e instanceof PasserelleError && (code === undefined || e.code === code);
}

/** Crash on a broken invariant: a programmer error, never an operating one. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
