import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** For tests: validate a pain.001.001.03 document with xmllint against the official schema; throws with xmllint's report. */
export function checkPain001(xml: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-sepa-'));
  try {
    const file = join(dir, 'file.xml');
    writeFileSync(file, xml);
    const xsd = new URL('../fixtures/pain.001.001.03.xsd', import.meta.url).pathname;
    execFileSync('xmllint', ['--noout', '--schema', xsd, file], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
