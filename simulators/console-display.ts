import type { Screen } from '../terminal/screens.ts';

/** A terminal screen drawn as a box of text, as the demo and `passerelle sim` print it. */
export function boxScreen(screen: Screen, indent = '   '): string {
  const width = Math.max(34, ...screen.lines.map((l) => [...l].length));
  const top = `${indent}┌${'─'.repeat(width + 2)}┐`;
  const bottom = `${indent}└${'─'.repeat(width + 2)}┘`;
  const body = screen.lines.map((l) => `${indent}│ ${l}${' '.repeat(width - [...l].length)} │`);
  return [top, ...body, bottom].join('\n');
}
