/**
 * Caisse-AP records over IP, as the protocol is publicly described (Association du paiement, "protocole
 * Caisse-AP", version 3; the tills of Odoo's point of sale speak it): a message is a run of ASCII records,
 * each a two-character tag, a three-digit length and the value, `CZ0040300CJ012…`; the version tag `CZ`
 * comes first, the others in any order. There is no end marker: a message ends when the till stops
 * writing (see till-server.ts).
 *
 * This reader is strict and bounded: tags are two capitals or digits, lengths three digits from 1 to 999,
 * values printable ASCII, a tag at most once, a message at most `MAX_MESSAGE_BYTES`. Anything else is a
 * `TillFormatError` naming what is wrong, answered with the format-error status, never a crash.
 */

export const MAX_MESSAGE_BYTES = 4096;

export type Records = ReadonlyMap<string, string>;

export class TillFormatError extends Error {
  constructor(readonly reason: string) {
    super(`malformed till message: ${reason}`);
    this.name = 'TillFormatError';
  }
}

const TAG = /^[A-Z0-9]{2}$/;
const LENGTH = /^[0-9]{3}$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** How far `text` holds whole records: the offset after the last complete one (0 when none is). */
export function wholeRecordsEnd(text: string): number {
  let i = 0;
  while (i + 5 <= text.length) {
    const len = Number(text.slice(i + 2, i + 5));
    if (!LENGTH.test(text.slice(i + 2, i + 5)) || i + 5 + len > text.length) break;
    i += 5 + len;
  }
  return i;
}

/** Every record of a whole message; TillFormatError when the message is not exactly a run of valid records. */
export function parseRecords(text: string): Records {
  if (text.length === 0) throw new TillFormatError('empty message');
  if (text.length > MAX_MESSAGE_BYTES) throw new TillFormatError(`longer than ${MAX_MESSAGE_BYTES} bytes`);
  if (!PRINTABLE.test(text)) throw new TillFormatError('not printable ASCII');
  const out = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    if (i + 5 > text.length) throw new TillFormatError(`a record cut short at byte ${i}`);
    const tag = text.slice(i, i + 2);
    const lengthText = text.slice(i + 2, i + 5);
    if (!TAG.test(tag)) throw new TillFormatError(`tag ${JSON.stringify(tag)} at byte ${i}`);
    if (!LENGTH.test(lengthText)) throw new TillFormatError(`length ${JSON.stringify(lengthText)} of ${tag}`);
    const length = Number(lengthText);
    if (length < 1) throw new TillFormatError(`empty value of ${tag}`);
    if (i + 5 + length > text.length) throw new TillFormatError(`value of ${tag} cut short`);
    if (out.has(tag)) throw new TillFormatError(`tag ${tag} twice`);
    out.set(tag, text.slice(i + 5, i + 5 + length));
    i += 5 + length;
  }
  if (!out.has('CZ') || text.slice(0, 2) !== 'CZ') throw new TillFormatError('the version tag CZ does not come first');
  return out;
}

/** A message: `CZ` first when present, then the others in the given order. */
export function encodeRecords(records: Iterable<readonly [string, string]>): string {
  const list = [...records];
  list.sort((a, b) => (a[0] === 'CZ' ? -1 : b[0] === 'CZ' ? 1 : 0));
  return list
    .map(([tag, value]) => {
      if (!TAG.test(tag) || value.length < 1 || value.length > 999 || !PRINTABLE.test(value)) throw new RangeError(`cannot encode record ${tag}=${JSON.stringify(value)}`);
      return `${tag}${String(value.length).padStart(3, '0')}${value}`;
    })
    .join('');
}
