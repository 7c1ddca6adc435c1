import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type { Benefit } from '../protocol/benefits.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { mulberry32 } from '../common/random.ts';

/**
 * Writes a realistic start-of-year card load file (format in `gateway/bulk/cards-csv.ts`) for benchmarks
 * and tests: `count` cards of campaign 2022-2023, the same file for the same seed.
 *
 *   npx tsx bench/make-cards-csv.ts out.csv 370000 [seed]
 *
 * Profiles follow the campaign 2022/2023 amounts of `domain.md` (source 003): general lycée, vocational
 * lycée and final year, with a few extras (first aid, the larger sport amount, driving licence aid).
 */

export const CAMPAIGN = '2022-2023';
const FIRST_CARD = 825_000_000_000_000;
const COLUMNS: readonly Benefit[] = ['SCHOOL_BOOKS', 'PRO_EQUIPMENT', 'SPORT', 'CINEMA', 'SHOWS', 'LEISURE_BOOKS', 'MUSEUM', 'FIRST_AID', 'DRIVING_LICENCE'];
const HEADER = ['card_number', 'dossier_id', 'holder', 'campaign', ...COLUMNS].join(',');
// Rows are joined into chunks of this many before writing: one write per row would be slow.
const ROWS_PER_WRITE = 1000;

const FIRST_NAMES = ['Léa', 'Hugo', 'Inès', 'Tom', 'Camille', 'Chloé', 'Louis', 'Zoé', 'Nathan', 'Manon', 'Enzo', 'Jade', 'Maël', 'Anaïs', 'Noé', 'Jean-Baptiste', 'Éloïse', 'Yanis', 'Sarah', 'Théo'];
const LAST_NAMES = ['Martin', 'Bernard', 'Petit', 'Robert', 'Durand', 'Dubois', 'Moreau', 'Lefèvre', "N'Diaye", 'Girard', 'Bonnet', 'Rousseau', 'Mercier', 'Blanc', 'Guérin', 'Faure', "D'Angelo", 'Le Gall', 'Nguyen', 'Da Silva'];

type Loads = Partial<Record<Benefit, number>>;

/** Writes `count` cards to `path` with a buffered stream, waiting whenever the stream asks to. */
export async function writeCardsCsv(path: string, count: number, seed = 1): Promise<{ bytes: number }> {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`writeCardsCsv: count must be a whole number, got ${count}`);
  const out = createWriteStream(path, { highWaterMark: 1024 * 1024 });
  const random = mulberry32(seed);
  let bytes = 0;
  const write = async (text: string) => {
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(HEADER + '\n');
  for (let start = 0; start < count; start += ROWS_PER_WRITE) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(count, start + ROWS_PER_WRITE); i++) lines.push(cardLine(i, random));
    await write(lines.join('\n') + '\n');
  }
  out.end();
  await finished(out);
  return { bytes };
}

function cardLine(i: number, random: () => number): string {
  const cardNumber = cardNumberFrom(String(FIRST_CARD + i));
  const dossierId = `PR22-${String(i + 1).padStart(7, '0')}`;
  const loads = profile(random);
  const cells = COLUMNS.map((benefit) => (loads[benefit] === undefined ? '' : String(loads[benefit])));
  return [cardNumber, dossierId, csvField(holderName(random)), CAMPAIGN, ...cells].join(',');
}

/** The benefits of one youth: a school profile, then the extras some of them get. */
function profile(random: () => number): Loads {
  const kind = random();
  const culture: Loads = { SPORT: 3000, CINEMA: 5, SHOWS: 3000, MUSEUM: 1 };
  const loads: Loads =
    kind < 0.55
      ? { ...culture, LEISURE_BOOKS: 1500, ...(random() < 0.2 ? { FIRST_AID: 6000 } : {}) }
      : kind < 0.8
        ? { ...culture, SCHOOL_BOOKS: 5000, PRO_EQUIPMENT: 5000 + 500 * Math.floor(random() * 91) }
        : { ...culture, LEISURE_BOOKS: 3500 };
  // Some clubs (combat sports, for girls) get the larger sport amount.
  if (random() < 0.08) loads.SPORT = 6000;
  if (random() < 0.05) loads.DRIVING_LICENCE = [20000, 50000, 100000][Math.floor(random() * 3)]!;
  return loads;
}

function holderName(random: () => number): string {
  const first = pick(FIRST_NAMES, random);
  const last = pick(LAST_NAMES, random);
  // A few files list names as "Last, First": those need quoting, which the parser must handle.
  return random() < 0.01 ? `${last}, ${first}` : `${first} ${last}`;
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)]!;
}

/** RFC 4180: quote a field holding a separator, a quote or a line break, doubling its quotes. */
function csvField(value: string): string {
  return /[",;\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}


async function main(argv: readonly string[]): Promise<void> {
  const [path, countText = '370000', seedText = '1'] = argv;
  if (path === undefined) {
    console.error('usage: npx tsx bench/make-cards-csv.ts <out.csv> [count=370000] [seed=1]');
    process.exitCode = 2;
    return;
  }
  const started = performance.now();
  const { bytes } = await writeCardsCsv(path, Number(countText), Number(seedText));
  const ms = Math.round(performance.now() - started);
  console.log(`wrote ${Number(countText).toLocaleString('en-US')} cards, ${bytes.toLocaleString('en-US')} bytes to ${path} in ${ms} ms`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
