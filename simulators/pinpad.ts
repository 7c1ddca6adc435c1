import type { Duplex } from 'node:stream';
import { isPasserelleError } from '../protocol/errors.ts';
import { PIN_PATTERN, sealPin } from '../protocol/pin.ts';
import { type Clock, systemClock } from '../terminal/bindings.ts';
import { FrameParser, type FrameStats, encodeFrame } from '../terminal/devices/pinpad/frame.ts';
import {
  type Command,
  MSG,
  type Message,
  NO_KEY_FINGERPRINT,
  type NakStatus,
  type PadState,
  type PinResultBody,
  decodeMessage,
  encodeMessage,
  isCommand,
  keyFingerprint,
} from '../terminal/devices/pinpad/messages.ts';

/**
 * The device side of the PIN pad protocol (docs/pinpad.md), attached to one end of a serial line: the
 * other end of a mock-binding cable, or the other pty of a socat pair. It holds the gateway's box public
 * key, injected at construction as the factory would, and seals what the youth types with `sealPin`, so
 * the terminal at the other end only ever receives the sealed block.
 *
 * Scriptable (the youth's keys, and faults of the line or the device) and recording (what crossed the
 * wire, what was shown and beeped). The records never hold the code: only that one was typed.
 */

export interface SimPadOptions {
  /** The gateway's X25519 box public key; null for a pad that left the factory without one. */
  readonly gatewayBoxPublicKey: Uint8Array | null;
  readonly model?: string;
  readonly firmware?: string;
  /** How long to wait for the terminal's ACK of a PIN_RESULT before sending it again. */
  readonly eventRetryMs?: number;
  /** Repeats of a PIN_RESULT after the first send; then the pad gives up and goes idle. */
  readonly eventRetries?: number;
  /** Entries in each record list; the oldest go first. */
  readonly maxRecords?: number;
  readonly clock?: Clock;
}

export type EntryOutcome = 'sealed' | 'cancelled' | 'timed-out' | 'cancelled-by-terminal';

export interface EntryRecord {
  readonly seq: number;
  readonly txnId: string;
  readonly prompt: readonly string[];
  /** How the entry ended; a sealed entry says only that a code was typed, never which. */
  outcome?: EntryOutcome;
  /** Whether the terminal acknowledged the PIN_RESULT. */
  reported?: boolean;
}

export interface WireRecord {
  readonly message: Message;
  /** For frames the pad sent: left out on purpose (`dropNextReplies`) or damaged (`corruptNextReply`). */
  readonly fault?: 'dropped' | 'corrupted';
}

type Behaviour = { readonly key: 'code'; readonly code: string } | { readonly key: 'cancel' | 'timeout' };

type Entry =
  | { readonly phase: 'entering'; readonly record: EntryRecord; readonly stopTimer: () => void }
  | { readonly phase: 'reporting'; readonly record: EntryRecord; readonly frame: Buffer; sends: number; stopTimer: () => void };

/** The youth can type ahead of the prompt a little; more is a script that went wrong. */
const MAX_SCRIPTED_KEYS = 16;

interface LastCommand {
  readonly payload: Buffer;
  readonly reply: Buffer;
}

export class SimPadDevice {
  readonly received: WireRecord[] = [];
  readonly sent: WireRecord[] = [];
  readonly texts: (readonly string[])[] = [];
  readonly beeps: { readonly count: number; readonly durationMs: number }[] = [];
  readonly entries: EntryRecord[] = [];
  /** Frames that arrived with a valid CRC but an invalid message. */
  invalidMessages = 0;

  readonly #port: Duplex;
  readonly #key: Uint8Array | null;
  readonly #fingerprint: Buffer;
  readonly #model: string;
  readonly #firmware: string;
  readonly #eventRetryMs: number;
  readonly #eventRetries: number;
  readonly #maxRecords: number;
  readonly #clock: Clock;
  readonly #parser: FrameParser;
  readonly #keys: Behaviour[] = [];
  #entry: Entry | undefined;
  #last: LastCommand | undefined;
  #silent = false;
  #dropReplies = 0;
  #corruptNext = false;
  readonly #onDataListener = (chunk: Buffer): void => this.#onData(chunk);
  readonly #onErrorListener = (): void => {
    // A vanished line is the terminal's problem to notice; the device just stops hearing it.
  };

  constructor(port: Duplex, opts: SimPadOptions) {
    this.#port = port;
    this.#key = opts.gatewayBoxPublicKey;
    this.#fingerprint = this.#key ? keyFingerprint(this.#key) : NO_KEY_FINGERPRINT;
    this.#model = opts.model ?? 'SIM-PAD-1';
    this.#firmware = opts.firmware ?? '1.0.0';
    this.#eventRetryMs = opts.eventRetryMs ?? 300;
    this.#eventRetries = opts.eventRetries ?? 5;
    this.#maxRecords = opts.maxRecords ?? 1000;
    this.#clock = opts.clock ?? systemClock;
    this.#parser = new FrameParser({ nowMs: () => this.#clock.monotonicMs() });
    port.on('data', this.#onDataListener);
    port.on('error', this.#onErrorListener);
  }

  get state(): PadState {
    return this.#entry?.phase ?? 'idle';
  }

  /** Hex fingerprint of the key the pad holds (zeros when none), as STATUS reports it. */
  get keyFingerprint(): string {
    return this.#fingerprint.toString('hex');
  }

  get frameStats(): FrameStats {
    return { ...this.#parser.stats };
  }

  // ---- the youth ----

  /** The youth types a 4-digit code and presses OK (now, or at the next prompt). */
  type(code: string): void {
    if (!PIN_PATTERN.test(code)) throw new Error('the simulated youth types 4 digits');
    this.#press({ key: 'code', code });
  }

  /** The youth presses the red key. */
  pressCancel(): void {
    this.#press({ key: 'cancel' });
  }

  /** The youth walks away: the entry times out now instead of after its timeout. */
  letTimeOut(): void {
    this.#press({ key: 'timeout' });
  }

  /** Resolves when an entry is under way (the prompt is on the pad), or rejects after `timeoutMs`. */
  whenEntering(timeoutMs = 2_000): Promise<void> {
    return this.#until(() => this.#entry?.phase === 'entering', timeoutMs, 'the pad never started a code entry');
  }

  /** Resolves when the pad has received `count` frames in all, or rejects after `timeoutMs`. */
  whenReceived(count: number, timeoutMs = 2_000): Promise<void> {
    return this.#until(() => this.received.length >= count, timeoutMs, `the pad did not receive ${count} frames`);
  }

  // ---- faults ----

  /** A frozen pad: it hears nothing and says nothing until `silence(false)`. */
  silence(on: boolean): void {
    this.#silent = on;
  }

  /** Line noise from the pad's side. */
  sendGarbage(bytes: Uint8Array): void {
    this.#port.write(Buffer.from(bytes));
  }

  /** The next `n` frames the pad sends are lost on the line. */
  dropNextReplies(n: number): void {
    this.#dropReplies = Math.max(0, Math.floor(n));
  }

  /** The next frame the pad sends arrives with a bad CRC. */
  corruptNextReply(): void {
    this.#corruptNext = true;
  }

  /** Stop listening to the port and stop every timer (the port stays the caller's to close). */
  detach(): void {
    this.#port.off('data', this.#onDataListener);
    this.#entry?.stopTimer();
    this.#entry = undefined;
  }

  // ---- the line ----

  #onData(chunk: Buffer): void {
    for (const payload of this.#parser.push(chunk)) {
      if (this.#silent) continue;
      this.#onPayload(payload);
    }
  }

  #onPayload(payload: Buffer): void {
    let m: Message;
    try {
      m = decodeMessage(payload);
    } catch (e) {
      if (!isPasserelleError(e)) throw e;
      this.invalidMessages++;
      this.#refuseUndecodable(e.details);
      return;
    }
    this.#record(this.received, { message: m });
    if (m.type === 'ACK') this.#onAck(m);
    else if (isCommand(m)) this.#onCommand(m, payload);
    else this.#nak(m.seq, MSG[m.type], 'unknown-command');
  }

  /** A frame that decodes to no command still names its seq and type, so the terminal learns why at once. */
  #refuseUndecodable(details: Readonly<Record<string, unknown>> | undefined): void {
    const seq = details?.['seq'];
    const type = details?.['type'];
    if (typeof seq !== 'number' || typeof type !== 'number') return;
    this.#nak(seq, type, details?.['reason'] === 'unknown-type' ? 'unknown-command' : 'bad-argument');
  }

  #onAck(m: Extract<Message, { type: 'ACK' }>): void {
    const entry = this.#entry;
    if (entry?.phase !== 'reporting' || m.forType !== MSG.PIN_RESULT || m.seq !== entry.record.seq) return;
    entry.stopTimer();
    entry.record.reported = true;
    this.#entry = undefined;
  }

  /**
   * A command repeated byte for byte (the terminal missed our reply and resent it) gets the same reply
   * again without being run twice: a resent BEEP does not beep twice, a resent REQUEST_PIN does not
   * restart the entry. STATUS is always answered afresh, since it only reads.
   */
  #onCommand(m: Command, payload: Buffer): void {
    if (m.type !== 'STATUS' && this.#last?.payload.equals(payload)) {
      this.#send(this.#last.reply);
      if (m.type === 'REQUEST_PIN') this.#resendResult(m.seq);
      return;
    }
    const reply = this.#run(m);
    if (m.type !== 'STATUS') this.#last = { payload: Buffer.from(payload), reply };
    this.#send(reply);
    if (m.type === 'REQUEST_PIN' && this.#entry?.phase === 'entering' && this.#entry.record.seq === m.seq) this.#applyNextKey();
  }

  #run(m: Command): Buffer {
    switch (m.type) {
      case 'STATUS':
        return frame({
          type: 'STATUS_REPLY',
          seq: m.seq,
          state: this.state,
          keyFingerprint: this.#fingerprint,
          model: this.#model,
          firmware: this.#firmware,
        });
      case 'SHOW_TEXT':
        if (this.#entry) return nakFrame(m.seq, MSG.SHOW_TEXT, 'busy');
        this.#record(this.texts, m.lines);
        return ackFrame(m.seq, MSG.SHOW_TEXT);
      case 'BEEP':
        this.#record(this.beeps, { count: m.count, durationMs: m.durationMs });
        return ackFrame(m.seq, MSG.BEEP);
      case 'REQUEST_PIN':
        return this.#startEntry(m);
      case 'CANCEL':
        this.#cancelEntry();
        return ackFrame(m.seq, MSG.CANCEL);
    }
  }

  // ---- the code entry ----

  #startEntry(m: Extract<Command, { type: 'REQUEST_PIN' }>): Buffer {
    const current = this.#entry;
    if (current) {
      // The same request again (its ACK was lost) carries on; any other must wait for a CANCEL.
      const same = current.record.seq === m.seq && current.record.txnId === m.txnId;
      if (same && current.phase === 'reporting') this.#resendResult(m.seq);
      return same ? ackFrame(m.seq, MSG.REQUEST_PIN) : nakFrame(m.seq, MSG.REQUEST_PIN, 'busy');
    }
    if (!this.#key) return nakFrame(m.seq, MSG.REQUEST_PIN, 'no-key');
    const record: EntryRecord = { seq: m.seq, txnId: m.txnId, prompt: m.prompt };
    this.#record(this.entries, record);
    const stopTimer = this.#clock.setTimer(m.timeoutS * 1000, () => this.#finishEntry({ outcome: 'timed-out' }));
    this.#entry = { phase: 'entering', record, stopTimer };
    return ackFrame(m.seq, MSG.REQUEST_PIN);
  }

  #press(b: Behaviour): void {
    if (this.#keys.length >= MAX_SCRIPTED_KEYS) throw new Error(`more than ${MAX_SCRIPTED_KEYS} scripted keys are waiting`);
    this.#keys.push(b);
    if (this.#entry?.phase === 'entering') this.#applyNextKey();
  }

  #applyNextKey(): void {
    const b = this.#keys.shift();
    if (!b) return;
    if (b.key === 'code') this.#seal(b.code);
    else this.#finishEntry({ outcome: b.key === 'cancel' ? 'cancelled' : 'timed-out' });
  }

  #seal(code: string): void {
    const entry = this.#entry;
    if (entry?.phase !== 'entering' || !this.#key) return;
    const block = Buffer.from(sealPin(code, entry.record.txnId, this.#key), 'base64url');
    this.#finishEntry({ outcome: 'sealed', block });
  }

  /** The entry is over on the pad; its result goes to the terminal until the terminal ACKs it. */
  #finishEntry(result: PinResultBody): void {
    const entry = this.#entry;
    if (entry?.phase !== 'entering') return;
    entry.stopTimer();
    entry.record.outcome = result.outcome;
    const resultFrame = frame({ type: 'PIN_RESULT', seq: entry.record.seq, ...result });
    const reporting: Entry = { phase: 'reporting', record: entry.record, frame: resultFrame, sends: 0, stopTimer: () => {} };
    this.#entry = reporting;
    this.#report(reporting);
  }

  #report(entry: Extract<Entry, { phase: 'reporting' }>): void {
    entry.stopTimer();
    if (entry.sends > this.#eventRetries) {
      // The terminal never acknowledged: it is gone or busy elsewhere. The entry is dropped, and its
      // heartbeat (STATUS says idle) tells a terminal still waiting that it will not come.
      entry.record.reported = false;
      this.#entry = undefined;
      return;
    }
    entry.sends++;
    this.#send(entry.frame);
    entry.stopTimer = this.#clock.setTimer(this.#eventRetryMs, () => this.#report(entry));
  }

  #resendResult(seq: number): void {
    const entry = this.#entry;
    if (entry?.phase === 'reporting' && entry.record.seq === seq) this.#send(entry.frame);
  }

  /** The terminal cancelled: an entry under way stops; a result not yet acknowledged is given up. */
  #cancelEntry(): void {
    const entry = this.#entry;
    if (!entry) return;
    entry.stopTimer();
    if (entry.phase === 'entering') entry.record.outcome = 'cancelled-by-terminal';
    else entry.record.reported = false;
    this.#entry = undefined;
  }

  // ---- sending ----

  #nak(seq: number, forType: number, status: NakStatus): void {
    this.#send(nakFrame(seq, forType, status));
  }

  #send(bytes: Buffer): void {
    if (this.#silent) return;
    const message = decodeMessage(bytes.subarray(3, bytes.length - 2));
    if (this.#dropReplies > 0) {
      this.#dropReplies--;
      this.#record(this.sent, { message, fault: 'dropped' });
      return;
    }
    let out = bytes;
    if (this.#corruptNext) {
      this.#corruptNext = false;
      out = Buffer.from(bytes);
      out[out.length - 1] = (out[out.length - 1] as number) ^ 0xff;
      this.#record(this.sent, { message, fault: 'corrupted' });
    } else {
      this.#record(this.sent, { message });
    }
    this.#port.write(out);
  }

  #record<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > this.#maxRecords) list.shift();
  }

  #until(done: () => boolean, timeoutMs: number, message: string): Promise<void> {
    const stepMs = 5;
    return new Promise<void>((resolve, reject) => {
      let waitedMs = 0;
      const check = (): void => {
        if (done()) return resolve();
        if (waitedMs >= timeoutMs) return reject(new Error(message));
        waitedMs += stepMs;
        setTimeout(check, stepMs);
      };
      check();
    });
  }
}

function frame(m: Message): Buffer {
  return encodeFrame(encodeMessage(m));
}

function ackFrame(seq: number, forType: number): Buffer {
  return frame({ type: 'ACK', seq, forType });
}

function nakFrame(seq: number, forType: number, status: NakStatus): Buffer {
  return frame({ type: 'NAK', seq, forType, status });
}
