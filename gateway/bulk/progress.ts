import cliProgress from 'cli-progress';

/**
 * Progress of a long bulk job (the start-of-year card load). On a terminal, a live bar with percent, rate
 * and ETA; anywhere else (CI logs, pipes, files) a plain line at most every 10 %, because a bar redrawn ten
 * times a second turns into thousands of log lines there.
 */

export interface ProgressOptions {
  /** The value that means done: rows, or bytes of the file. 0 is shown as complete. */
  readonly total: number;
  /** Printed before the figures, e.g. `loading cards`. */
  readonly label: string;
  /** Where to write (default stderr, so that a command's own output on stdout stays clean). */
  readonly stream?: NodeJS.WritableStream & { readonly isTTY?: boolean };
  /** What the values count, for display only (default rows). */
  readonly unit?: 'rows' | 'bytes';
}

export interface Progress {
  /** The amount done so far (not an increment). */
  update(value: number): void;
  /** Ends the display; calling it again does nothing. */
  stop(): void;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const format = opts.unit === 'bytes' ? formatBytes : formatCount;
  return stream.isTTY === true ? terminalBar(opts, stream, format) : plainLines(opts, stream, format);
}

function terminalBar(opts: ProgressOptions, stream: NodeJS.WritableStream, format: (n: number) => string): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${opts.label} [{bar}] {percentage} % | {done}/{size} | {rate} | ETA {eta_formatted}`,
      hideCursor: true,
      // Bulk reads come in bursts (a chunk, a batch): a longer window keeps the ETA from jumping about.
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  const figures = (value: number) => {
    const seconds = (performance.now() - started) / 1000;
    return { done: format(value), size: format(opts.total), rate: `${seconds > 0 ? format(value / seconds) : '–'}/s` };
  };
  bar.start(opts.total, 0, figures(0));
  let stopped = false;
  return {
    update: (value) => bar.update(value, figures(value)),
    stop: () => {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}

function plainLines(opts: ProgressOptions, stream: NodeJS.WritableStream, format: (n: number) => string): Progress {
  let printedTenth = -1;
  let printedValue: number | undefined;
  let value = 0;
  const print = () => {
    stream.write(`${opts.label}: ${percent(value, opts.total)} % (${format(value)}/${format(opts.total)})\n`);
    printedValue = value;
  };
  return {
    update: (v) => {
      value = v;
      const tenth = Math.floor(percent(v, opts.total) / 10);
      if (tenth <= printedTenth) return;
      printedTenth = tenth;
      print();
    },
    // The last line always shows where the job ended, even if it stopped between two tenths.
    stop: () => {
      if (printedValue !== value) print();
    },
  };
}

function percent(value: number, total: number): number {
  if (total <= 0) return 100;
  return Math.min(100, Math.max(0, Math.floor((value * 100) / total)));
}

function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatBytes(n: number): string {
  return n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}
