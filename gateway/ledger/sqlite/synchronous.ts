/**
 * A role of `Ledger` as the SQLite parts implement it: the same methods answering at once. better-sqlite3 is
 * synchronous; the facade (`SqliteLedger`) turns each answer into the interface's promise, so a part's own
 * work (and the calls between parts) stays one synchronous step.
 */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : T[K];
};
