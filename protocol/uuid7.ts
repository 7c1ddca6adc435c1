import { randomBytes } from 'node:crypto';

/**
 * UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Terminals mint transaction
 * ids this way so that ids sort by time: the ledger's indexes on them grow at their end instead of being
 * written at random places, which keeps each group commit to a few pages.
 */
// Random bytes drawn in blocks: one call to the CSPRNG per 409 ids instead of one per id.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

function random10(): Uint8Array {
  if (poolAt + 10 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  poolAt += 10;
  return pool.subarray(poolAt - 10, poolAt);
}

export function uuidv7(nowMs: number = Date.now(), random: Uint8Array = random10()): string {
  const b = Buffer.alloc(16);
  b.writeUIntBE(Math.max(0, Math.trunc(nowMs)) % 2 ** 48, 0, 6);
  Buffer.from(random.buffer, random.byteOffset, 10).copy(b, 6);
  b[6] = 0x70 | ((b[6] ?? 0) & 0x0f); // version 7
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f); // RFC 9562 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
