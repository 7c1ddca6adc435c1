import { connect, type Socket } from 'node:net';
import { encodeRecords, parseRecords, wholeRecordsEnd } from '../terminal/till/records.ts';

/**
 * A till speaking Caisse-AP over IP to a terminal's till link (terminal/till/), as a point of sale does:
 * it writes a message and reads the answer, which ends when it holds whole records and nothing more
 * arrives for a moment. For tests and the till benchmark.
 */
export class SimTill {
  readonly #socket: Socket;
  #buffer = '';
  #waiter: { resolve: (m: Map<string, string>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #idle: NodeJS.Timeout | undefined;
  /** The Concert identifier and till number this till sends. */
  readonly cj: string;
  readonly ca: string;

  private constructor(socket: Socket, cj: string, ca: string) {
    this.#socket = socket;
    this.cj = cj;
    this.ca = ca;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.#buffer += d;
      clearTimeout(this.#idle);
      // An answer always carries AE: whole records with AE are the whole answer.
      if (wholeRecordsEnd(this.#buffer) === this.#buffer.length) {
        if (hasTag(this.#buffer, 'AE')) this.#deliver();
        else this.#idle = setTimeout(() => this.#deliver(), 20);
      }
    });
    socket.on('close', () => this.#waiter?.reject(new Error('the terminal closed the till connection')));
  }

  static connect(port: number, o: { host?: string; cj?: string; ca?: string } = {}): Promise<SimTill> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: o.host ?? '127.0.0.1', noDelay: true });
      s.once('connect', () => resolve(new SimTill(s, o.cj ?? '012345678901', o.ca ?? '01')));
      s.once('error', reject);
    });
  }

  #deliver(): void {
    const w = this.#waiter;
    if (!w) return;
    this.#waiter = undefined;
    clearTimeout(w.timer);
    const text = this.#buffer;
    this.#buffer = '';
    try {
      w.resolve(new Map(parseRecords(text)));
    } catch (e) {
      w.reject(e as Error);
    }
  }

  /** Send raw text (a malformed message, say) and wait for the answer. */
  send(text: string, timeoutMs = 30_000): Promise<Map<string, string>> {
    if (this.#waiter) return Promise.reject(new Error('one request at a time'));
    const answer = new Promise<Map<string, string>>((resolve, reject) => {
      this.#waiter = { resolve, reject, timer: setTimeout(() => ((this.#waiter = undefined), reject(new Error('no answer from the terminal'))), timeoutMs) };
    });
    this.#socket.write(text, 'latin1');
    return answer;
  }

  /** A debit of `cents` (and the private tags given: ZB benefit, ZN entries, BA…). */
  debit(cents: number, extra: Record<string, string> = {}, timeoutMs?: number): Promise<Map<string, string>> {
    return this.send(encodeRecords([['CZ', '0300'], ['CJ', this.cj], ['CA', this.ca], ['CE', '978'], ['CD', '0'], ['CB', String(cents).padStart(2, '0')], ...Object.entries(extra)]), timeoutMs);
  }

  /** This till's last result (ZQ 1). */
  lastResult(): Promise<Map<string, string>> {
    return this.send(encodeRecords([['CZ', '0300'], ['CJ', this.cj], ['CA', this.ca], ['ZQ', '1']]));
  }

  /** Write a debit and leave at once, as a till that crashes mid-sale. */
  debitAndLeave(cents: number): void {
    this.#socket.end(encodeRecords([['CZ', '0300'], ['CJ', this.cj], ['CA', this.ca], ['CE', '978'], ['CD', '0'], ['CB', String(cents).padStart(2, '0')]]), 'latin1');
  }

  close(): void {
    this.#socket.destroy();
  }
}

function hasTag(text: string, tag: string): boolean {
  try {
    return parseRecords(text).has(tag);
  } catch {
    return false;
  }
}
