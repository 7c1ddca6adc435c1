import { readFileSync } from 'node:fs';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { PasserelleError } from '../protocol/errors.ts';

/**
 * Configuration files: one schema per process (gateway, terminal) with defaults, ranges and descriptions;
 * a bad value fails fast with CONFIG_INVALID naming its path.
 */

/** Apply defaults and validate; a failure names the first wrong path. */
export function parseConfig<T extends TSchema>(schema: T, raw: unknown, source: string): Static<T> {
  const value = Value.Default(schema, Value.Clone(raw ?? {}));
  if (Value.Check(schema, value)) return value;
  const first = Value.Errors(schema, value).First();
  const path = first?.path || '/';
  throw new PasserelleError('CONFIG_INVALID', `${source}: ${path}: ${first?.message ?? 'invalid'}`, { path });
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PasserelleError('CONFIG_INVALID', `cannot read config file ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PasserelleError('CONFIG_INVALID', `config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Deep-merge plain objects (overrides win), for command-line flags over a config file. */
export function mergeConfig(base: unknown, overrides: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(isPlain(base) ? base : {}) };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    out[k] = isPlain(v) ? mergeConfig(out[k], v) : v;
  }
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

