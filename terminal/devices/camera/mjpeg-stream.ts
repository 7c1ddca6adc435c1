import type { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { Waiters } from '../../../common/waiters.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { checkInt, unavailable, type FrameSource } from './frame-source.ts';
import { MjpegSplitter, type MjpegSplitterStats } from './mjpeg-splitter.ts';

export interface MjpegStreamFrameSourceOptions {
  /** Largest frame, in bytes; default 4 MiB (a 1280x720 frame is ~100–300 kB). */
  readonly maxFrameBytes?: number;
  /** Frames kept while nobody reads, newest kept; default 2. */
  readonly maxQueuedFrames?: number;
}

/** Bytes of a capture command's standard error kept for the error message. */
const STDERR_TAIL_BYTES = 2048;

/**
 * Frames from a byte stream of concatenated JPEGs: what `ffmpeg -f v4l2 -i /dev/video0 -f mjpeg -`
 * writes on its standard output. The stream is read continuously, so the capture command never blocks,
 * and only the newest `maxQueuedFrames` frames are kept while no sale reads: an old frame never pays.
 */
export class MjpegStreamFrameSource implements FrameSource {
  readonly #stream: Readable;
  readonly #splitter: MjpegSplitter;
  readonly #maxQueuedFrames: number;
  readonly #queue: Buffer[] = [];
  /** The one pending `nextFrame`, if any. */
  readonly #waiter = new Waiters<Buffer>(1, 'MjpegStreamFrameSource.nextFrame');
  #failure: PasserelleError | null = null;
  #onClose: () => void = () => undefined;
  /** False for a spawned command: its 'close' event, after both exit and end of output, reports instead. */
  #failOnStreamEnd = true;
  /** Frames dropped because newer ones arrived before anybody read them. */
  droppedStale = 0;

  constructor(stream: Readable, opts: MjpegStreamFrameSourceOptions = {}) {
    this.#stream = stream;
    this.#splitter = new MjpegSplitter(opts.maxFrameBytes);
    this.#maxQueuedFrames = checkInt('maxQueuedFrames', opts.maxQueuedFrames ?? 2, 1, 64);
    stream.on('data', this.#onData);
    stream.on('end', () => this.#streamEnded('The camera stream ended.'));
    stream.on('close', () => this.#streamEnded('The camera stream was closed.'));
    stream.on('error', (e: Error) => this.#fail(unavailable('The camera stream failed.', e)));
  }

  /**
   * Runs a capture command (no shell: `argv[0]` is the program) and reads Motion-JPEG from its
   * standard output. A technician configures the command, e.g.
   * `['ffmpeg', '-loglevel', 'error', '-f', 'v4l2', '-video_size', '1280x720', '-i', '/dev/video0', '-f', 'mjpeg', '-q:v', '5', '-']`.
   * The command exiting, or failing to start, makes the source unavailable; `close()` stops it.
   */
  static spawn(argv: readonly string[], opts: MjpegStreamFrameSourceOptions = {}): MjpegStreamFrameSource {
    const [program, ...args] = argv;
    if (program === undefined) throw new RangeError('the capture command is empty');
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const source = new MjpegStreamFrameSource(child.stdout, opts);
    // 'exit' can come before the last frames are read from the pipe; 'close' comes after both.
    source.#failOnStreamEnd = false;
    let stderrTail = '';
    // The command's log must be read, or a chatty ffmpeg would block on a full pipe.
    child.stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.on('error', (e) => source.#fail(unavailable(`The capture command ${program} cannot be run.`, e)));
    child.on('close', (code, signalName) => {
      const how = signalName === null ? `with code ${code}` : `on ${signalName}`;
      source.#fail(unavailable(`The capture command ${program} exited ${how}.`, stderrTail ? new Error(stderrTail.trim()) : undefined));
    });
    source.#onClose = () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    };
    return source;
  }

  get stats(): Readonly<MjpegSplitterStats> {
    return this.#splitter.stats;
  }

  nextFrame(signal: AbortSignal): Promise<Buffer> {
    if (this.#waiter.size > 0) throw new Error('assertion failed: MjpegStreamFrameSource.nextFrame is already pending');
    if (signal.aborted) return Promise.reject(signal.reason);
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return this.#waiter.wait(signal);
  }

  async close(): Promise<void> {
    this.#fail(unavailable('The camera was closed.'));
    this.#stream.off('data', this.#onData);
    this.#onClose();
    this.#stream.destroy();
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    for (const frame of this.#splitter.push(bytes)) this.#offer(frame);
  };

  #offer(frame: Buffer): void {
    if (this.#waiter.size > 0) {
      this.#waiter.resolveAll(frame);
      return;
    }
    this.#queue.push(frame);
    if (this.#queue.length > this.#maxQueuedFrames) {
      this.#queue.shift();
      this.droppedStale++;
    }
  }

  #streamEnded(message: string): void {
    if (this.#failOnStreamEnd) this.#fail(unavailable(message));
  }

  /** The first failure is kept; frames already queued are still handed out before it. */
  #fail(error: PasserelleError): void {
    if (this.#failure === null) this.#failure = error;
    this.#waiter.rejectAll(this.#failure);
  }
}

// ---------------------------------------------------------------------------------------------------
