import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import {
  type CkksParameterSet,
  decryptionKl,
  KEY_KL_BUDGET,
  MIN_STAT_SECURITY_BITS,
} from '../../crypto/ckks/parameters.ts';
import { alreadyExists, failedPrecondition, RequestError } from '../../sdk/common/grpc-errors.ts';
import { status } from '@grpc/grpc-js';

/**
 * A keyholder's append-only decryption log (JSON lines, fsynced before anything is sent), and
 * the rules it enforces across restarts:
 *
 * - One responder set per ciphertext, ever. A partial is d_i = λ_i·s_i·c1 + e_i with λ_i set by
 *   the responder set, so two answers for one ciphertext — to two sets, or with two noises —
 *   let the asker cancel c1 and the noise and read s_i·c1 (issue 11, item 3). Every ciphertext
 *   (by SHA-256) is bound to the aggregate it was answered in and to that set; asked again for
 *   the same aggregate and set the keyholder re-derives the identical bytes (the flooding is a
 *   PRF of a sealed key, the aggregate and the set, and the bytes' hash is logged and checked),
 *   anything else is ALREADY_EXISTS.
 * - A key's life and budget are the KEY's, not this keyholder's: what leaks through the flood is
 *   x = v*·e + e*·s, a function of the collective secret, whichever keyholders answer. Each
 *   keyholder records every decryption it makes on the ledger (`recordKeyDecryption`) before it
 *   releases the partial, and before answering sums what ALL keyholders recorded for the key,
 *   with its own log: one charge per distinct aggregate (the KL its ciphertext and contributor
 *   counts add, crypto/ckks/parameters.ts `decryptionKl`, never less than this keyholder
 *   computes from the recorded counts). More than `keyLifeRounds` distinct aggregates, or a sum
 *   past 2^−40, is RESOURCE_EXHAUSTED naming the key (`assertKeyBudget`). A crash between the
 *   record and the answer spends budget on nothing (safe); a responder that records nothing
 *   cannot help a coordinator past the budget, because every decryption needs at least one
 *   honest responder's partial, and the honest responder records before it answers.
 * - Verified aggregates: PrepareDecryption records the aggregates it checked to be the sum of
 *   their receipted uploads; PartialDecrypt answers no other.
 */
export interface DecryptionEntry {
  readonly kind: 'decryption';
  readonly at: string;
  readonly round: string;
  readonly caller: string;
  readonly key: string;
  readonly aggregateSha256: string;
  /** SHA-256 of each ciphertext of the aggregate, in order. */
  readonly ciphertexts: readonly string[];
  /** Sorted keyholder indices. */
  readonly responders: readonly number[];
  readonly contributors: number;
  /** SHA-256 over the partials sent, in order: a re-derivation must reproduce it. */
  readonly partialsSha256: string;
}

export interface VerifiedEntry {
  readonly kind: 'verified';
  readonly at: string;
  readonly round: string;
  readonly key: string;
  readonly aggregateSha256: string;
  readonly contributors: number;
}

type Entry = DecryptionEntry | VerifiedEntry;

/** What the log says about a request to decrypt one aggregate for one responder set. */
export type Answer =
  { readonly kind: 'new' } | { readonly kind: 'repeat'; readonly partialsSha256: string };

export const resourceExhausted = (message: string) =>
  new RequestError(status.RESOURCE_EXHAUSTED, message);

export class DecryptionLog {
  private readonly path: string;
  private readonly bindings = new Map<string, { aggregate: string; responders: string }>();
  private readonly answered = new Map<string, DecryptionEntry>();
  private readonly aggregateSets = new Map<string, string>();
  private readonly roundsByKey = new Map<string, Set<string>>();
  private readonly chargesByKey = new Map<
    string,
    Map<string, { ciphertexts: number; contributors: number }>
  >();
  private readonly verified = new Set<string>();

  constructor(path: string) {
    this.path = path;
    if (!existsSync(path)) return;
    let text = readFileSync(path, 'utf8');
    // A torn last line was never fsynced whole, so nothing it describes was sent: drop it.
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      truncateSync(path, Buffer.byteLength(text.slice(0, end)));
      text = text.slice(0, end);
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const entry = JSON.parse(line) as Partial<Entry> & { aggregateSha256: string; key: string };
      if (entry.kind === 'verified')
        this.verified.add(verifiedKey(entry.key, entry.aggregateSha256));
      else this.index(entry as DecryptionEntry);
    }
  }

  /** Distinct aggregates `key` has answered. */
  roundsDecrypted(key: string): number {
    return this.roundsByKey.get(key)?.size ?? 0;
  }

  /** One charge per distinct aggregate `key` answered: its ciphertext and contributor counts. */
  charges(key: string): readonly { ciphertexts: number; contributors: number }[] {
    return [...(this.chargesByKey.get(key)?.values() ?? [])];
  }

  /** The same, by aggregate (SHA-256, hex). */
  chargesByAggregate(
    key: string,
  ): ReadonlyMap<string, { readonly ciphertexts: number; readonly contributors: number }> {
    return this.chargesByKey.get(key) ?? new Map();
  }

  isVerified(key: string, aggregateSha256: string): boolean {
    return this.verified.has(verifiedKey(key, aggregateSha256));
  }

  recordVerified(entry: Omit<VerifiedEntry, 'kind' | 'at'>): void {
    if (this.isVerified(entry.key, entry.aggregateSha256)) return;
    this.append({ kind: 'verified', at: new Date().toISOString(), ...entry });
    this.verified.add(verifiedKey(entry.key, entry.aggregateSha256));
  }

  /**
   * Whether this keyholder may answer `aggregate` (its ciphertexts' hashes) for `responders`:
   * a repeat of an earlier answer, or new — or throws ALREADY_EXISTS / RESOURCE_EXHAUSTED.
   */
  check(
    key: string,
    aggregate: string,
    ciphertexts: readonly string[],
    responders: readonly number[],
    keyLifeRounds: number,
  ): Answer {
    const set = setKey(responders);
    const answeredFor = this.aggregateSets.get(aggregate);
    if (answeredFor !== undefined && answeredFor !== set)
      throw alreadyExists(
        `aggregate ${aggregate.slice(0, 16)}… was already answered for responders [${answeredFor}]; ` +
          `a keyholder answers one ciphertext for one responder set only — ask [${answeredFor}] again for the same bytes`,
      );
    let bound = 0;
    for (const [position, ciphertext] of ciphertexts.entries()) {
      const binding = this.bindings.get(ciphertext);
      if (binding === undefined) continue;
      if (binding.aggregate !== aggregate || binding.responders !== set) {
        throw alreadyExists(
          `ciphertext ${position} (SHA-256 ${ciphertext.slice(0, 16)}…) was already answered as part of ` +
            `aggregate ${binding.aggregate.slice(0, 16)}… for responders [${binding.responders}]; ` +
            'a keyholder answers one ciphertext for one responder set only',
        );
      }
      bound++;
    }
    const earlier = this.answered.get(answerKey(aggregate, set));
    if (earlier !== undefined) return { kind: 'repeat', partialsSha256: earlier.partialsSha256 };
    if (bound > 0)
      throw failedPrecondition(
        `the decryption log binds part of aggregate ${aggregate.slice(0, 16)}… to another answer; refusing`,
      );
    const decrypted = this.roundsDecrypted(key);
    if (decrypted >= keyLifeRounds) throw keyExhausted(key, decrypted);
    return { kind: 'new' };
  }

  /** Durably logs an answer; call before any of its bytes leave the process. */
  record(entry: Omit<DecryptionEntry, 'kind' | 'at'>): void {
    const full: DecryptionEntry = {
      kind: 'decryption',
      at: new Date().toISOString(),
      ...entry,
      responders: [...entry.responders].sort((a, b) => a - b),
    };
    if (this.answered.has(answerKey(full.aggregateSha256, setKey(full.responders)))) return;
    this.append(full);
    this.index(full);
  }

  private index(entry: DecryptionEntry): void {
    const set = setKey(entry.responders);
    // Entries written before per-ciphertext binding bind their aggregate as one ciphertext.
    for (const ciphertext of entry.ciphertexts ?? [entry.aggregateSha256])
      this.bindings.set(ciphertext, { aggregate: entry.aggregateSha256, responders: set });
    this.answered.set(answerKey(entry.aggregateSha256, set), entry);
    this.aggregateSets.set(entry.aggregateSha256, set);
    let rounds = this.roundsByKey.get(entry.key);
    if (rounds === undefined) this.roundsByKey.set(entry.key, (rounds = new Set()));
    rounds.add(entry.aggregateSha256);
    let charges = this.chargesByKey.get(entry.key);
    if (charges === undefined)
      this.chargesByKey.set(
        entry.key,
        (charges = new Map<string, { ciphertexts: number; contributors: number }>()),
      );
    charges.set(entry.aggregateSha256, {
      ciphertexts: entry.ciphertexts?.length ?? 1,
      contributors: entry.contributors,
    });
  }

  private append(entry: Entry): void {
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, JSON.stringify(entry) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

export function keyExhausted(key: string, decrypted: number): RequestError {
  return resourceExhausted(
    `key ${key.slice(0, 16)}… has decrypted ${decrypted} rounds, the most its flooding noise is sized for; ` +
      'it decrypts nothing more — run a new key ceremony (veilsum keys ceremony) and open rounds under the new key',
  );
}

/** What the ledger says one keyholder's decryption under a key cost (ledger/records.ts). */
export interface RecordedDecryption {
  readonly keySha256: string;
  readonly aggregateSha256: string;
  readonly ciphertexts: number;
  readonly contributors: number;
}

/**
 * Refuses (RESOURCE_EXHAUSTED, naming the key and the figures) a decryption of the aggregate
 * `decryption.aggregate` under `key` that would take the key past its life (`keyLifeRounds`
 * distinct aggregates) or its KL budget (KEY_KL_BUDGET), counting what this keyholder's log and
 * every keyholder's ledger records say the key already spent (one charge per distinct
 * aggregate). Returns this decryption's own KL (what the keyholder records on the ledger); an
 * aggregate already charged is not charged twice.
 */
export function assertKeyBudget(
  log: DecryptionLog,
  recorded: readonly RecordedDecryption[],
  key: string,
  flooding: {
    readonly set: CkksParameterSet;
    readonly sigma: number;
    readonly keyholders: number;
    readonly keyLifeRounds: number;
  },
  decryption: {
    readonly round: string;
    readonly aggregate: string;
    readonly ciphertexts: number;
    readonly contributors: number;
  },
): number {
  const { set, sigma, keyholders } = flooding;
  const klOf = (ciphertexts: number, contributors: number) =>
    set.insecure ? 0 : decryptionKl(set, sigma, ciphertexts, Math.max(1, contributors), keyholders);
  const spentOn = new Map<string, number>();
  const charge = (aggregate: string, kl: number) =>
    spentOn.set(aggregate, Math.max(spentOn.get(aggregate) ?? 0, kl));
  for (const [aggregate, c] of log.chargesByAggregate(key))
    charge(aggregate, klOf(c.ciphertexts, c.contributors));
  // Each record charged from its counts, which the contract checked against its round
  // (ledger/key-budget.ts); a recorded kl is never read, and records of other keys never count.
  for (const r of recorded)
    if (r.keySha256 === key) charge(r.aggregateSha256, klOf(r.ciphertexts, r.contributors));
  const cost = klOf(decryption.ciphertexts, decryption.contributors);
  if (spentOn.has(decryption.aggregate)) return cost;
  if (spentOn.size >= flooding.keyLifeRounds) throw keyExhausted(key, spentOn.size);
  const spent = [...spentOn.values()].reduce((total, kl) => total + kl, 0);
  if (!set.insecure && spent + cost > KEY_KL_BUDGET) {
    const bits = (kl: number) => (kl > 0 ? (-Math.log2(kl)).toFixed(1) : '∞');
    throw resourceExhausted(
      `decrypting round ${decryption.round} (${decryption.ciphertexts} ciphertexts, ${decryption.contributors} contributors) ` +
        `would take key ${key.slice(0, 16)}… below ${MIN_STAT_SECURITY_BITS} bits of statistical security: its flooding budget is KL 2^-${MIN_STAT_SECURITY_BITS}, ` +
        `the ${spentOn.size} earlier decryptions all its keyholders recorded spent 2^-${bits(spent)} and this one costs 2^-${bits(cost)} ` +
        '(the cost grows with ciphertexts × contributors²); run a new key ceremony (veilsum keys ceremony) and open rounds under the new key',
    );
  }
  return cost;
}

const setKey = (responders: readonly number[]) => [...responders].sort((a, b) => a - b).join(',');
const answerKey = (aggregate: string, set: string) => `${aggregate}/${set}`;
const verifiedKey = (key: string, aggregate: string) => `${key}/${aggregate}`;
