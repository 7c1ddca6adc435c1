import type { Duplex } from 'node:stream';
import { PasserelleError, isPasserelleError } from '../../../protocol/errors.ts';
import { type Clock, type PinPad, systemClock } from '../../bindings.ts';
import { FrameParser, type FrameStats, encodeFrame } from './frame.ts';
import {
  type Command,
  MSG,
  type Message,
  NO_KEY_FINGERPRINT,
  type PadMessage,
  type PadState,
  PIN_TIMEOUT_S_MAX,
  PIN_TIMEOUT_S_MIN,
  decodeMessage,
  encodeMessage,
  isCommand,
  typeName,
} from './messages.ts';

/**
 * The terminal's driver for the serial PIN pad (protocol in docs/pinpad.md). It implements the `PinPad`
 * binding over any Duplex — a serialport `SerialPort`, the mock binding, or a pseudo-terminal — so the
 * same code runs in tests and on the counter.
 *
 * One command is in flight at a time: the pad is a small device and the terminal never needs two answers
 * at once. A command is resent, byte for byte with the same seq, when its reply does not come in time;
 * the pad recognises the repeat and does not run it twice. The code the youth types never reaches this
 * side: the pad returns only the block sealed to the gateway.
 */

export interface SerialPinPadOptions {
  /** How long to wait for the ACK of one send before resending. */
  readonly replyTimeoutMs?: number;
  /** Resends of one command after the first send; then the pad is PAD_UNAVAILABLE. */
  readonly retries?: number;
  /** Commands waiting behind the one in flight; more is a sign the pad is not keeping up. */
  readonly maxQueuedCommands?: number;
  /** The entry timeout the pad enforces (REQUEST_PIN carries it). */
  readonly pinTimeoutS?: number;
  /** How long past the pad's own timeout to wait for its PIN_RESULT before giving up on it. */
  readonly pinGraceMs?: number;
  /** During an entry, a STATUS every so often shows the pad is still there and still entering. */
  readonly heartbeatMs?: number;
  /** A silence inside a frame longer than this drops the partial frame. */
  readonly interByteTimeoutMs?: number;
  /** The first seq used (tests pin it; a restarted terminal may start anywhere). */
  readonly firstSeq?: number;
  readonly clock?: Clock;
  /** Every frame or message rejected on the way in, for logs; must not throw. */
  readonly onFrameError?: (err: PasserelleError) => void;
}

const DEFAULTS = {
  replyTimeoutMs: 500,
  retries: 3,
  maxQueuedCommands: 8,
  pinTimeoutS: 60,
  pinGraceMs: 5_000,
  heartbeatMs: 2_000,
  interByteTimeoutMs: 200,
  firstSeq: 1,
};

export interface PadStatus {
  readonly model: string;
  readonly firmware: string;
  readonly state: PadState;
  /** Hex of the first 8 bytes of SHA-256 of the gateway box key the pad holds. */
  readonly keyFingerprint: string;
  readonly keyLoaded: boolean;
}

export interface PadClientStats extends FrameStats {
  framesOut: number;
  retries: number;
  invalidMessages: number;
  strayReplies: number;
  strayEvents: number;
}

type Reply = Extract<PadMessage, { type: 'ACK' | 'STATUS_REPLY' }>;

interface Exchange {
  readonly seq: number;
  readonly type: number;
  readonly settle: (result: Reply | PasserelleError) => void;
}

interface PinWait {
  readonly seq: number;
  readonly succeed: (sealedBlock: string) => void;
  readonly fail: (reason: unknown) => void;
}

function unavailable(message: string, cause?: unknown): PasserelleError {
  return new PasserelleError('PAD_UNAVAILABLE', `PIN pad: ${message}`, undefined, { cause });
}

export class SerialPinPad implements PinPad {
  readonly #port: Duplex;
  readonly #opts: Limits;
  readonly #clock: Clock;
  readonly #onFrameError: (err: PasserelleError) => void;
  readonly #parser: FrameParser;
  readonly #counts = { framesOut: 0, retries: 0, invalidMessages: 0, strayReplies: 0, strayEvents: 0 };
  #seq: number;
  #tail: Promise<unknown> = Promise.resolve();
  #queued = 0;
  #exchange: Exchange | undefined;
  #pin: PinWait | undefined;
  #failure: PasserelleError | undefined;
  readonly #onDataListener = (chunk: Buffer): void => this.#onData(chunk);
  readonly #onCloseListener = (): void => this.#fail(unavailable('the serial port closed'));
  readonly #onEndListener = (): void => this.#fail(unavailable('the serial port ended'));
  readonly #onErrorListener = (err: Error): void => this.#fail(unavailable(`the serial port failed: ${err.message}`, err));

  constructor(port: Duplex, opts: SerialPinPadOptions = {}) {
    this.#port = port;
    this.#opts = limits(opts);
    checkLimits(this.#opts);
    this.#clock = opts.clock ?? systemClock;
    this.#onFrameError = opts.onFrameError ?? (() => {});
    this.#seq = this.#opts.firstSeq & 0xff;
    this.#parser = new FrameParser({
      onError: (err) => this.#reportFrameError(err),
      nowMs: () => this.#clock.monotonicMs(),
      interByteTimeoutMs: this.#opts.interByteTimeoutMs,
    });
    port.on('data', this.#onDataListener);
    port.on('close', this.#onCloseListener);
    port.on('end', this.#onEndListener);
    port.on('error', this.#onErrorListener);
  }

  /** Counters for the technician's screen and the logs: frames, rejections, resends, strays. */
  get stats(): PadClientStats {
    return { ...this.#parser.stats, ...this.#counts };
  }

  /** True once the port closed or failed, or `close()` was called: every call then rejects at once. */
  get closed(): boolean {
    return this.#failure !== undefined;
  }

  // ---- the PinPad binding ----

  requestSealedCode(txnId: string, prompt: string, signal: AbortSignal): Promise<string> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pin) return Promise.reject(new PasserelleError('PAD_ERROR', 'PIN pad: a code entry is already under way', { status: 'busy' }));
    const command: Command = { type: 'REQUEST_PIN', seq: this.#nextSeq(), txnId, timeoutS: this.#opts.pinTimeoutS, prompt: prompt.split('\n') };
    let frame: Buffer;
    try {
      frame = encodeFrame(encodeMessage(command));
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<string>((resolve, reject) => this.#startPinWait(command.seq, frame, signal, resolve, reject));
  }

  // ---- the other commands ----

  /** Show up to two lines of up to twenty characters on the pad's display. */
  async showText(lines: readonly string[]): Promise<void> {
    await this.#command({ type: 'SHOW_TEXT', seq: this.#nextSeq(), lines });
  }

  async beep(count = 1, durationMs = 100): Promise<void> {
    await this.#command({ type: 'BEEP', seq: this.#nextSeq(), count, durationMs });
  }

  /** Stop the code entry on the pad; a pending `requestSealedCode` rejects with PIN_ENTRY_CANCELLED. */
  async cancel(): Promise<void> {
    this.#pin?.fail(new PasserelleError('PIN_ENTRY_CANCELLED', 'the code entry was cancelled at the terminal'));
    await this.#command({ type: 'CANCEL', seq: this.#nextSeq() });
  }

  async status(): Promise<PadStatus> {
    const reply = await this.#command({ type: 'STATUS', seq: this.#nextSeq() });
    if (reply.type !== 'STATUS_REPLY') throw new PasserelleError('PAD_ERROR', 'PIN pad: STATUS was answered without a status', { status: 'bad-reply' });
    const fingerprint = Buffer.from(reply.keyFingerprint);
    return {
      model: reply.model,
      firmware: reply.firmware,
      state: reply.state,
      keyFingerprint: fingerprint.toString('hex'),
      keyLoaded: !fingerprint.equals(NO_KEY_FINGERPRINT),
    };
  }

  /** Stop using the port (it stays the caller's to close): everything pending rejects with PAD_UNAVAILABLE. */
  close(): void {
    this.#fail(unavailable('the driver was closed'));
  }

  // ---- the PIN wait ----

  #startPinWait(seq: number, frame: Buffer, signal: AbortSignal, resolve: (block: string) => void, reject: (e: unknown) => void): void {
    const timers: (() => void)[] = [];
    const onAbort = (): void => {
      wait.fail(signal.reason);
      this.#cancelQuietly();
    };
    /** Ends the wait once; later outcomes (a late result, a last heartbeat) find it gone and do nothing. */
    const finish = (): boolean => {
      if (this.#pin !== wait) return false;
      this.#pin = undefined;
      for (const stop of timers) stop();
      signal.removeEventListener('abort', onAbort);
      return true;
    };
    const wait: PinWait = {
      seq,
      succeed: (block) => finish() && resolve(block),
      fail: (reason) => finish() && reject(reason),
    };
    this.#pin = wait;
    signal.addEventListener('abort', onAbort, { once: true });
    const deadlineMs = this.#opts.pinTimeoutS * 1000 + this.#opts.pinGraceMs;
    timers.push(
      this.#clock.setTimer(deadlineMs, () => {
        wait.fail(new PasserelleError('PIN_ENTRY_TIMEOUT', 'PIN pad: no result came within the entry timeout'));
        this.#cancelQuietly();
      }),
    );
    // The wait is registered before REQUEST_PIN leaves, so a result that overtakes a lost ACK still counts.
    this.#enqueue(() => this.#send(seq, MSG.REQUEST_PIN, frame)).then(
      () => {
        if (this.#pin === wait) timers.push(this.#heartbeat(wait));
      },
      (err: unknown) => wait.fail(err),
    );
  }

  /**
   * While the youth types, ask the pad how it is from time to time: a pad that stops answering, or that
   * forgot the entry (it restarted, or gave up sending the result), would otherwise leave the sale
   * waiting for the whole entry timeout.
   */
  #heartbeat(wait: PinWait): () => void {
    let stop = (): void => {};
    let stopped = false;
    const beat = (): void => {
      stop = this.#clock.setTimer(this.#opts.heartbeatMs, () => {
        this.status().then(
          (s) => {
            if (s.state === 'idle') wait.fail(unavailable('the pad is idle: it lost the code entry'));
            else if (!stopped) beat();
          },
          (err: unknown) => wait.fail(err),
        );
      });
    };
    beat();
    return () => {
      stopped = true;
      stop();
    };
  }

  #cancelQuietly(): void {
    if (this.#failure) return;
    // The caller has already been answered; a pad that misses the CANCEL times the entry out by itself.
    this.#command({ type: 'CANCEL', seq: this.#nextSeq() }).catch(() => {});
  }

  #onPinResult(m: Extract<Message, { type: 'PIN_RESULT' }>): void {
    // Always acknowledge, even a stray result, so the pad stops repeating it.
    this.#write(encodeFrame(encodeMessage({ type: 'ACK', seq: m.seq, forType: MSG.PIN_RESULT })));
    const wait = this.#pin;
    if (!wait || wait.seq !== m.seq) {
      this.#counts.strayEvents++;
      return;
    }
    if (m.outcome === 'sealed') wait.succeed(Buffer.from(m.block).toString('base64url'));
    else if (m.outcome === 'cancelled') wait.fail(new PasserelleError('PIN_ENTRY_CANCELLED', 'the code entry was cancelled on the pad'));
    else wait.fail(new PasserelleError('PIN_ENTRY_TIMEOUT', 'the pad timed the code entry out'));
  }

  // ---- commands, one at a time ----

  async #command(command: Command): Promise<Reply> {
    const frame = encodeFrame(encodeMessage(command));
    return this.#enqueue(() => this.#send(command.seq, MSG[command.type], frame));
  }

  #enqueue<T>(run: () => Promise<T>): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#queued >= this.#opts.maxQueuedCommands) {
      return Promise.reject(unavailable(`${this.#queued} commands are already waiting for the pad`));
    }
    this.#queued++;
    const result = this.#tail.then(() => {
      this.#queued--;
      return this.#failure ? Promise.reject(this.#failure) : run();
    });
    this.#tail = result.catch(() => {});
    return result;
  }

  /** Send one frame and wait for its reply, resending the same bytes on each timeout, a bounded number of times. */
  #send(seq: number, type: number, frame: Buffer): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      let attempts = 0;
      let stopTimer = (): void => {};
      const attempt = (): void => {
        attempts++;
        this.#write(frame);
        stopTimer = this.#clock.setTimer(this.#opts.replyTimeoutMs, onTimeout);
      };
      const onTimeout = (): void => {
        if (attempts > this.#opts.retries) {
          settle(unavailable(`no reply to ${typeName(type)} after ${attempts} sends`));
          return;
        }
        this.#counts.retries++;
        attempt();
      };
      const settle = (result: Reply | PasserelleError): void => {
        if (this.#exchange !== exchange) return;
        this.#exchange = undefined;
        stopTimer();
        if (result instanceof PasserelleError) reject(result);
        else resolve(result);
      };
      const exchange: Exchange = { seq, type, settle };
      this.#exchange = exchange;
      attempt();
    });
  }

  // ---- the way in ----

  #onData(chunk: Buffer): void {
    for (const payload of this.#parser.push(chunk)) {
      let m: Message;
      try {
        m = decodeMessage(payload);
      } catch (e) {
        if (!isPasserelleError(e)) throw e;
        this.#counts.invalidMessages++;
        this.#reportFrameError(e);
        continue;
      }
      this.#onMessage(m);
    }
  }

  #onMessage(m: Message): void {
    if (m.type === 'PIN_RESULT') {
      this.#onPinResult(m);
      return;
    }
    const ex = this.#exchange;
    if (isCommand(m) || !ex || ex.seq !== m.seq || !answers(m, ex.type)) {
      this.#counts.strayReplies++;
      return;
    }
    if (m.type === 'NAK') {
      ex.settle(new PasserelleError('PAD_ERROR', `PIN pad refused ${typeName(ex.type)}: ${m.status}`, { status: m.status, command: typeName(ex.type) }));
    } else if (m.type === 'ACK' || m.type === 'STATUS_REPLY') {
      ex.settle(m);
    }
  }

  // ---- the way out, and failure ----

  #write(frame: Buffer): void {
    if (this.#failure) return;
    this.#counts.framesOut++;
    this.#port.write(frame, (err) => {
      if (err) this.#fail(unavailable(`writing to the serial port failed: ${err.message}`, err));
    });
  }

  #fail(err: PasserelleError): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#port.off('data', this.#onDataListener);
    this.#port.off('close', this.#onCloseListener);
    this.#port.off('end', this.#onEndListener);
    this.#port.off('error', this.#onErrorListener);
    // Keep swallowing port errors: a late one with no listener would crash the process.
    this.#port.on('error', () => {});
    this.#parser.reset();
    this.#exchange?.settle(err);
    this.#pin?.fail(err);
  }

  #nextSeq(): number {
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) & 0xff;
    return seq;
  }

  #reportFrameError(err: PasserelleError): void {
    try {
      this.#onFrameError(err);
    } catch {
      // A faulty log hook must not break the driver.
    }
  }
}

function checkLimits(l: Limits): void {
  if (l.pinTimeoutS < PIN_TIMEOUT_S_MIN || l.pinTimeoutS > PIN_TIMEOUT_S_MAX) {
    throw new PasserelleError('CONFIG_INVALID', `pinTimeoutS must be within ${PIN_TIMEOUT_S_MIN}..${PIN_TIMEOUT_S_MAX}`);
  }
  // A resent reply must find the parser empty: if a partial frame (a stray STX and a plausible length)
  // could outlive the reply timeout, it would swallow every resent reply in turn.
  if (l.interByteTimeoutMs >= l.replyTimeoutMs) {
    throw new PasserelleError('CONFIG_INVALID', 'interByteTimeoutMs must be shorter than replyTimeoutMs');
  }
  if (l.retries < 0 || l.retries > 10 || l.maxQueuedCommands < 1 || l.maxQueuedCommands > 64) {
    throw new PasserelleError('CONFIG_INVALID', 'retries must be within 0..10 and maxQueuedCommands within 1..64');
  }
}

/** Whether a reply from the pad answers a command of this type. */
function answers(m: Message, commandType: number): boolean {
  if (m.type === 'STATUS_REPLY') return commandType === MSG.STATUS;
  if (m.type === 'ACK' || m.type === 'NAK') return m.forType === commandType;
  return false;
}

type Limits = typeof DEFAULTS;

/** The numeric options, each one given or its default. */
function limits(opts: SerialPinPadOptions): Limits {
  const out = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof Limits)[]) {
    const value = opts[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
