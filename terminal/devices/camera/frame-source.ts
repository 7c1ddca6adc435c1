import { PasserelleError } from '../../../protocol/errors.ts';

/** What the camera's frame sources share: the interface, and the few helpers each of them needs. */

/** Where frames come from. Implementations bound their buffers and drop old frames rather than queue them. */
export interface FrameSource {
  /**
   * The next frame, PNG or JPEG bytes. Rejects with QR_READER_UNAVAILABLE when the source has ended or
   * failed, or with the signal's reason when aborted.
   */
  nextFrame(signal: AbortSignal): Promise<Buffer>;
  /** Releases the source (stops a capture command, stops polling). */
  close(): Promise<void>;
}


// Helpers

export function isNotFound(e: unknown): boolean {
  return e instanceof Error && 'code' in e && e.code === 'ENOENT';
}

/** Resolves after `ms`, or rejects with the signal's reason (not a generic AbortError) when aborted. */
export function sleepMs(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

export function unavailable(message: string, cause?: unknown): PasserelleError {
  return new PasserelleError('QR_READER_UNAVAILABLE', message, {}, cause === undefined ? undefined : { cause });
}
