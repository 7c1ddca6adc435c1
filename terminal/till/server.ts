import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/log.ts';
import type { Benefit } from '../../protocol/benefits.ts';
import { isPasserelleError, PasserelleError } from '../../protocol/errors.ts';
import type { Outcome } from '../sale.ts';
import { AE, AF, echoOf, outcomeAnswer, readRequest, refusalAnswer, TillRefusal, type TillId, type TillRequest } from './caisse-ap.ts';
import { encodeRecords, MAX_MESSAGE_BYTES, parseRecords, TillFormatError, wholeRecordsEnd, type Records } from './records.ts';

/**
 * The till link: a TCP server on the terminal that a till (Odoo's point of sale, a vendor's till) drives
 * with Caisse-AP (caisse-ap.ts). A message has no end marker: it is taken to end when it holds whole
 * records and nothing more arrived for `idleMs` (40 ms: an optional tag in a later segment still joins
 * it, so a split request is never sold on the wrong benefit), or when the till closes its side; a message
 * cut inside a record waits at most `incompleteMs`. Bounded: `MAX_MESSAGE_BYTES` a message, `maxConnections` sockets, only addresses in
 * `allow` (the protocol has no authentication: the partner lists its tills).
 *
 * One sale at a time (the runtime's rule); a request while one runs is refused at once with AF 05 and
 * `SALE_IN_PROGRESS`. A till that disconnects mid-sale loses nothing: the sale goes on and its answer is
 * kept as that till's last result, which `ZQ` 1 asks for.
 */

export interface TillDeps {
  sale(benefit: Benefit, amount: number): Promise<Outcome>;
  offered(): readonly Benefit[];
}

export interface TillOptions {
  readonly host: string;
  readonly port: number;
  readonly allow: readonly string[];
  readonly benefit?: Benefit;
  readonly log: Logger;
  /** A message of whole records is handled once nothing more arrived for this long. */
  readonly idleMs?: number;
  /** A record cut short: waited for this long. */
  readonly incompleteMs?: number;
  readonly maxConnections?: number;
}

/** A till's last result: the answer, or `running` while its sale goes on. */
type LastResult = { readonly state: 'running' } | { readonly state: 'done'; readonly answer: [string, string][] };

const MAX_TILLS_REMEMBERED = 64;

export class TillServer {
  readonly #deps: TillDeps;
  readonly #o: TillOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #last = new Map<string, LastResult>();
  /** Sales started from the till and not yet finished (one at most). */
  #running: Promise<void> | undefined;
  /** Counters for tests and logs. */
  readonly stats = { messages: 0, sales: 0, refused: 0, malformed: 0, rejectedAddresses: 0 };

  private constructor(deps: TillDeps, o: TillOptions) {
    this.#deps = deps;
    this.#o = o;
    this.#server = createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.#accept(s));
    this.#server.maxConnections = o.maxConnections ?? 16;
  }

  static async start(deps: TillDeps, o: TillOptions): Promise<TillServer> {
    const t = new TillServer(deps, o);
    await new Promise<void>((resolve, reject) => {
      t.#server.once('error', (e: NodeJS.ErrnoException) => reject(new PasserelleError('PORT_IN_USE', `till link ${o.host}:${o.port}: ${e.code ?? e.message}`, {}, { cause: e })));
      t.#server.listen(o.port, o.host, () => resolve());
    });
    return t;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  #accept(socket: Socket): void {
    const from = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!this.#o.allow.includes(from)) {
      this.stats.rejectedAddresses++;
      this.#o.log.warn({ from }, 'till connection refused: address not in till.allow');
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.setEncoding('latin1');
    let buffer = '';
    let timer: NodeJS.Timeout | undefined;
    // Requests still being answered on this socket, and whether the till closed its side: the socket is
    // ended only once every request it sent is answered.
    let handling = 0;
    let peerEnded = false;
    const endIfDone = () => {
      if (peerEnded && handling === 0 && buffer.length === 0) socket.end();
    };
    const flush = (): Promise<void> => {
      timer = undefined;
      const message = buffer;
      buffer = '';
      handling++;
      return this.#handle(message, socket)
        .catch((e: unknown) => this.#o.log.error({ err: e }, 'till message not handled'))
        .finally(() => {
          handling--;
          endIfDone();
        });
    };
    socket.on('data', (chunk: string) => {
      clearTimeout(timer);
      buffer += chunk;
      if (buffer.length > MAX_MESSAGE_BYTES) {
        // Past the bound: answered as malformed, the connection closed, nothing more read.
        buffer = buffer.slice(0, MAX_MESSAGE_BYTES + 1);
        socket.pause();
        peerEnded = true;
        void flush();
        return;
      }
      // No end marker: a message of whole records is taken once nothing more came for idleMs (optional tags
      // such as ZB may follow in a later segment); one cut inside a record waits incompleteMs.
      const whole = wholeRecordsEnd(buffer) === buffer.length;
      timer = setTimeout(() => void flush(), whole ? (this.#o.idleMs ?? 40) : (this.#o.incompleteMs ?? 2000));
    });
    // The till finished writing: what it sent is the message (it may still read the answer, half-open).
    socket.on('end', () => {
      clearTimeout(timer);
      peerEnded = true;
      if (buffer.length > 0) void flush();
      else endIfDone();
    });
    socket.on('error', (e) => this.#o.log.debug({ err: e.message }, 'till socket error'));
    socket.on('close', () => {
      clearTimeout(timer);
      this.#sockets.delete(socket);
    });
  }

  async #handle(message: string, socket: Socket): Promise<void> {
    this.stats.messages++;
    let records: Records;
    try {
      records = parseRecords(message);
    } catch (e) {
      this.stats.malformed++;
      this.#o.log.warn({ reason: (e as TillFormatError).reason, bytes: message.length }, 'malformed till message');
      // Echo what can be read: the version first, if the message starts with it.
      const cz = /^CZ([0-9]{3})/.exec(message);
      const version = cz && Number(cz[1]) > 0 ? message.slice(5, 5 + Number(cz[1])) : '';
      const echo: [string, string][] = [['CZ', version.length === Number(cz?.[1]) && /^[\x20-\x7e]+$/.test(version) ? version : '0300']];
      return this.#write(socket, [...echo, ...refusalAnswer(e as TillFormatError)]);
    }
    const echo = echoOf(records);
    let request: TillRequest;
    try {
      request = readRequest(records, { offered: this.#deps.offered(), defaultBenefit: this.#o.benefit });
    } catch (e) {
      if (!(e instanceof TillRefusal || e instanceof TillFormatError)) throw e;
      if (e instanceof TillFormatError) this.stats.malformed++;
      else this.stats.refused++;
      this.#o.log.info({ reason: e.message }, 'till request refused');
      return this.#write(socket, [...echo, ...refusalAnswer(e)]);
    }
    const key = tillKey(request.till);
    if (request.kind === 'last-result') {
      const last = this.#last.get(key);
      if (!last) return this.#write(socket, [...echo, ...refusalAnswer(new TillRefusal(AF.NOT_ALLOWED, 'SALE_UNKNOWN', 'no sale from this till since the terminal started'))]);
      return this.#write(socket, [...echo, ['ZQ', '1'], ...(last.state === 'running' ? ([['AE', AE.TAKEN]] as [string, string][]) : last.answer)]);
    }
    if (this.#running) {
      this.stats.refused++;
      return this.#write(socket, [...echo, ...refusalAnswer(new TillRefusal(AF.NOT_ALLOWED, 'SALE_IN_PROGRESS', 'a sale is in progress'))]);
    }
    let sale: Promise<Outcome>;
    try {
      sale = this.#deps.sale(request.benefit, request.amount);
    } catch (e) {
      return this.#write(socket, [...echo, ...refusalAnswer(asRefusal(e))]);
    }
    this.stats.sales++;
    const previous = this.#last.get(key);
    this.#remember(key, { state: 'running' });
    let started = true;
    const answered = sale.then(
      (outcome) => [...echo, ...outcomeAnswer(outcome, request.requestedCents)] as [string, string][],
      (e: unknown) => {
        // Refused before it started (another sale runs, maintenance, stopping): not this till's last result.
        started = false;
        return [...echo, ...refusalAnswer(asRefusal(e))] as [string, string][];
      },
    );
    this.#running = answered.then((a) => {
      // A refusal before the sale started is this till's last result only if the till was told to ask for
      // one (BA 1: it got AE 11 and will ask); otherwise it got the refusal itself and keeps its last result.
      if (started || request.immediate) this.#remember(key, { state: 'done', answer: a.slice(echo.length) });
      else if (previous) this.#remember(key, previous);
      else this.#last.delete(key);
      this.#running = undefined;
    });
    if (request.immediate) this.#write(socket, [...echo, ['AE', AE.TAKEN]]);
    else this.#write(socket, await answered);
  }

  #remember(key: string, r: LastResult): void {
    this.#last.delete(key);
    this.#last.set(key, r);
    if (this.#last.size > MAX_TILLS_REMEMBERED) this.#last.delete(this.#last.keys().next().value!);
  }

  #write(socket: Socket, records: [string, string][]): void {
    if (socket.destroyed || !socket.writable) return;
    socket.write(encodeRecords(records), 'latin1');
  }

  /** Stop listening and close the tills' connections; a sale in progress is the service's to finish. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

function tillKey(t: TillId): string {
  return `${t.cj}/${t.ca}`;
}

function asRefusal(e: unknown): TillRefusal {
  if (e instanceof TillRefusal) return e;
  if (isPasserelleError(e)) return new TillRefusal(e.code === 'SALE_IN_PROGRESS' ? AF.NOT_ALLOWED : AF.REFUSED, e.code, e.message);
  return new TillRefusal(AF.REFUSED, 'INTERNAL_ERROR', (e as Error).message);
}
