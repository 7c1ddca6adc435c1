import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The partnership convention partners sign in their space (source 003: conventions 2022/2027): its text,
 * read once, and the SHA-256 a signature records, so what was signed can be shown again and checked.
 */
export const CONVENTION = (() => {
  const text = readFileSync(new URL('./documents/convention-2022-2027.txt', import.meta.url), 'utf8');
  // Shown as paragraphs (the file's line breaks are only its width); the hash is of the file as it is.
  const paragraphs = text.split(/\n\s*\n/).map((p) => p.split('\n').map((l) => l.trim()).filter(Boolean));
  return { id: 'convention-2022-2027', text, paragraphs, sha256: createHash('sha256').update(text, 'utf8').digest('hex') } as const;
})();
