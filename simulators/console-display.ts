import type { Screen } from '../terminal/screens.ts';

/** A terminal screen drawn as a box of text, as the demo and `passerelle sim` print it. */
export function boxScreen(screen: Screen, indent = '   '): string {
  const all = screen.footer ? [...screen.lines, screen.footer] : screen.lines;
  const width = Math.max(34, ...all.map((l) => [...l].length));
  const top = `${indent}┌${'─'.repeat(width + 2)}┐`;
  const bottom = `${indent}└${'─'.repeat(width + 2)}┘`;
  const line = (l: string) => `${indent}│ ${l}${' '.repeat(width - [...l].length)} │`;
  const body = screen.lines.map(line);
  // The status bar, under a rule: link state and what waits to be sent.
  const footer = screen.footer ? [`${indent}├${'─'.repeat(width + 2)}┤`, line(screen.footer)] : [];
  return [top, ...body, ...footer, bottom].join('\n');
}
