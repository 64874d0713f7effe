import { createHash } from 'node:crypto';
import { contract, ContractError, type TransactionContext, type WorldState } from '../contract.ts';
import type { LedgerEvent } from '../records.ts';

/**
 * The embedded ledger as a replicated state machine of the contract: a block is accepted only if
 * running its transaction through the contract — as its signer, at its time, with its arguments,
 * over the state the earlier blocks left — writes exactly the block's writes and emits exactly
 * its events. A writer's signature proves who sent a transaction, not that the contract allowed
 * it; this is what stops a block signed by its own writer from setting anyone's state
 * (THREAT-REVIEW question 2). Every input of the contract comes from the block, so any contract
 * function, present or future, replays the same way.
 */

/** What a block records about its transaction: everything the contract may depend on. */
export interface RecordedTransaction {
  readonly number: number;
  readonly previousHash: string;
  readonly timestamp: number;
  readonly caller: string;
  readonly fn: string;
  readonly args: unknown[];
  readonly writes: [string, string][];
  readonly events: LedgerEvent[];
}

/**
 * The world state replayed from verified blocks: each key's value and the block that last wrote
 * it. Keys are also indexed by every folder prefix (up to each '/'), so the contract's prefix
 * scans cost the folder's size, not the whole state's.
 */
export class ReplayState {
  private readonly values = new Map<string, { value: string; block: number }>();
  private readonly folders = new Map<string, Set<string>>();

  get size(): number {
    return this.values.size;
  }

  get(key: string): { value: string; block: number } | undefined {
    return this.values.get(key);
  }

  set(key: string, value: string, block: number): void {
    if (!this.values.has(key))
      for (let slash = key.indexOf('/'); slash >= 0; slash = key.indexOf('/', slash + 1)) {
        const folder = key.slice(0, slash + 1);
        let members = this.folders.get(folder);
        if (members === undefined) this.folders.set(folder, (members = new Set()));
        members.add(key);
      }
    this.values.set(key, { value, block });
  }

  keys(): IterableIterator<string> {
    return this.values.keys();
  }

  entries(): IterableIterator<[string, { value: string; block: number }]> {
    return this.values.entries();
  }

  /** Every key starting with `prefix`, in key order. */
  keysWithPrefix(prefix: string): string[] {
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const candidates = folder === '' ? this.values.keys() : (this.folders.get(folder) ?? []);
    const keys: string[] = [];
    for (const key of candidates) if (key.startsWith(prefix)) keys.push(key);
    return keys.sort(compareKeys);
  }

  /** As a list to send to another thread; `fromEntries` rebuilds it. */
  toEntries(): [string, string, number][] {
    return [...this.values].map(([key, { value, block }]) => [key, value, block]);
  }

  static fromEntries(entries: [string, string, number][]): ReplayState {
    const state = new ReplayState();
    for (const [key, value, block] of entries) state.set(key, value, block);
    return state;
  }
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The id a transaction runs under: the hash of the chain head it extends and of what it runs,
 * so it is fixed by the ledger's state, not picked by the caller.
 */
export function transactionIdOf(
  previousHash: string,
  caller: string,
  fn: string,
  args: unknown[],
  timestamp: number,
): string {
  return createHash('sha256')
    .update(canonicalJson({ previousHash, caller, fn, args, timestamp }))
    .digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) {
    // A block's writes (key, value pairs) print the same either way, natively: a fifth of a
    // ledger's first open was this function.
    if (printsAsJson(value)) return JSON.stringify(value);
    let out = '[';
    // An undefined element prints as nothing, as Array.prototype.join does.
    for (let i = 0; i < value.length; i++)
      out += (i > 0 ? ',' : '') + ((canonicalJson(value[i]) as string | undefined) ?? '');
    return out + ']';
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    let out = '{';
    for (const key of Object.keys(record).sort(compareKeys)) {
      const entry = record[key];
      if (entry === undefined) continue;
      out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + canonicalJson(entry);
    }
    return out + '}';
  }
  return JSON.stringify(value);
}

/**
 * Whether JSON.stringify prints `value` exactly as canonicalJson does: nested arrays of strings,
 * numbers, booleans and null only (no object whose keys to sort, no undefined or hole, which
 * canonicalJson prints as nothing and JSON.stringify as null).
 */
function printsAsJson(value: unknown[]): boolean {
  for (const element of value) {
    const type = typeof element;
    if (type === 'string' || type === 'number' || type === 'boolean' || element === null) continue;
    if (Array.isArray(element) && printsAsJson(element)) continue;
    return false;
  }
  return true;
}

/** The contract function a block names, or undefined if the contract has none of that name. */
export function contractFunction(
  fn: string,
): ((ctx: TransactionContext, ...args: unknown[]) => Promise<unknown>) | undefined {
  if (!Object.hasOwn(contract, fn)) return undefined;
  const functions = contract as unknown as Record<
    string,
    (ctx: TransactionContext, ...args: unknown[]) => Promise<unknown>
  >;
  return (ctx, ...args) => functions[fn]!.call(contract, ctx, ...args);
}

/** A transaction as the contract sees it: who, when, what, and the head it extends. */
export type TransactionInput = Pick<
  RecordedTransaction,
  'previousHash' | 'timestamp' | 'caller' | 'fn' | 'args'
>;

/**
 * Runs a transaction through the contract over `state` (not changed) and returns the writes
 * and events it makes, or the contract's refusal.
 */
export async function executeTransaction(
  state: ReplayState,
  transaction: TransactionInput,
): Promise<
  { writes: [string, string][]; events: LedgerEvent[]; result: unknown } | { refused: Error }
> {
  const implementation = contractFunction(transaction.fn);
  if (implementation === undefined)
    return { refused: new Error(`${JSON.stringify(transaction.fn)} is no contract function`) };
  if (!Array.isArray(transaction.args)) return { refused: new Error('no argument list') };
  const writes = new Map<string, string>();
  const events: LedgerEvent[] = [];
  const world: WorldState = {
    get: (key) => Promise.resolve(writes.has(key) ? writes.get(key) : state.get(key)?.value),
    put: (key, value) => {
      writes.set(key, value);
      return Promise.resolve();
    },
    list: (prefix) => {
      const keys = new Set(state.keysWithPrefix(prefix));
      for (const key of writes.keys()) if (key.startsWith(prefix)) keys.add(key);
      return Promise.resolve(
        [...keys]
          .sort(compareKeys)
          .map((key) => (writes.has(key) ? writes.get(key)! : state.get(key)!.value)),
      );
    },
  };
  const { previousHash, timestamp, caller, fn, args } = transaction;
  // Computed when the contract asks (openRound does): hashing every block's arguments again was
  // a tenth of a replay's time.
  let transactionId: string | undefined;
  const context: TransactionContext = {
    state: world,
    callerMspId: caller,
    timestamp,
    get transactionId() {
      return (transactionId ??= transactionIdOf(previousHash, caller, fn, args, timestamp));
    },
    emit: (event) => events.push(event),
  };
  try {
    const result = await implementation(context, ...args);
    return { writes: [...writes.entries()], events, result };
  } catch (error) {
    return { refused: error as Error };
  }
}

/**
 * Re-runs a block's transaction over `state` (the state before the block) and returns why the
 * block is not what the contract produces, or undefined when it is. `state` is not changed.
 */
export async function replayProblem(
  state: ReplayState,
  block: RecordedTransaction,
): Promise<string | undefined> {
  const what = `${block.caller}'s ${block.fn}`;
  const outcome = await executeTransaction(state, block);
  if ('refused' in outcome)
    return outcome.refused instanceof ContractError
      ? `block ${block.number} is a transaction the contract refuses (${what}: ${outcome.refused.message})`
      : `block ${block.number} (${what}) cannot be replayed: ${outcome.refused.message}`;
  if (!sameWrites(outcome.writes, block.writes)) {
    const differs = firstDifference(block.writes, outcome.writes);
    return `block ${block.number} records writes the contract does not make (${what}): ${differs}`;
  }
  // Recorded events are the JSON of the events the contract emitted, in the order it emitted
  // them; the replayed ones serialise the same way.
  if (JSON.stringify(outcome.events) !== JSON.stringify(block.events))
    return `block ${block.number} records events the contract does not emit (${what})`;
  return undefined;
}

function sameWrites(replayed: [string, string][], recorded: [string, string][]): boolean {
  if (!Array.isArray(recorded) || recorded.length !== replayed.length) return false;
  return replayed.every(([key, value], i) => {
    const entry = recorded[i];
    return Array.isArray(entry) && entry.length === 2 && entry[0] === key && entry[1] === value;
  });
}

function firstDifference(recorded: [string, string][], replayed: [string, string][]): string {
  if (!Array.isArray(recorded)) return 'its writes are not a list';
  const expected = new Map(replayed);
  for (const entry of recorded) {
    const [key, value] = Array.isArray(entry) ? entry : [String(entry), undefined];
    if (!expected.has(key)) return `the contract writes no key ${key}`;
    if (expected.get(key) !== value) return `key ${key} differs from what the contract writes`;
  }
  const written = new Set(recorded.map((entry) => (Array.isArray(entry) ? entry[0] : '')));
  const missing = replayed.find(([key]) => !written.has(key));
  return missing !== undefined
    ? `the contract also writes ${missing[0]}, which the block leaves out`
    : 'the writes are in another order';
}
