/**
 * An MQTT fixed header as raw bytes: the packet type and flags, then the remaining length in MQTT's
 * variable-length encoding (7 bits a byte, least significant first). Tests that lie about lengths write
 * it without the bytes it promises.
 */
export function fixedHeader(type: number, length: number, flags = 0): Buffer {
  const out = [(type << 4) | (flags & 0x0f)];
  let n = length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
