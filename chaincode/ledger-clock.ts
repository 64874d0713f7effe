/**
 * The ledger's clock on Fabric, and why `openRound` reads it.
 *
 * Peers check a proposal's time when they endorse it (proposal-time.ts), but a Fabric
 * transaction is validated at commit only by its endorsements and by its read set: nothing
 * re-checks time. A coordinator could therefore endorse `openRound` while a roster member's
 * consent is in force, hold the endorsed transaction past that consent's expiry, and submit it
 * then (endorse, hold, submit). The one thing a commit does check is that every key the
 * transaction read still has the version it had at endorsement.
 *
 * So the chaincode keeps one key, `ledger-clock`, holding the latest endorsed time, and every
 * `openRound` reads it and writes it forward: the round's time (and the instant its consents are
 * judged at) is the later of its proposal time and the ledger clock, and the round advances the
 * clock to that time. Any transaction that advances the clock after an `openRound` was endorsed
 * — another round, or `advanceClock`, which any registered organisation may send, each of them
 * endorsed by peers that check its time against their own clocks — makes the held `openRound`
 * fail Fabric's version check (MVCC_READ_CONFLICT) when it is finally submitted. A held
 * `openRound` therefore commits only if nobody advanced the clock since it was endorsed: members,
 * keyholders and auditors that advance it every P seconds bound a hold to P plus the skew.
 *
 * Only `openRound` and `advanceClock` touch the key: other transactions stay free of conflicts
 * with each other. The embedded ledger needs no clock key: its blocks are written when they are
 * signed, and each is dated no earlier than its predecessor.
 */
export const LEDGER_CLOCK_KEY = 'ledger-clock';

export interface LedgerClock {
  /** The latest time (ms since the epoch) an endorsed transaction advanced the clock to. */
  readonly at: number;
}

export function parseLedgerClock(stored: Uint8Array | undefined): number {
  if (stored === undefined || stored.length === 0) return 0;
  const at = (JSON.parse(Buffer.from(stored).toString('utf8')) as Partial<LedgerClock>).at;
  return typeof at === 'number' && Number.isSafeInteger(at) && at > 0 ? at : 0;
}

export function encodeLedgerClock(at: number): Buffer {
  const clock: LedgerClock = { at };
  return Buffer.from(JSON.stringify(clock), 'utf8');
}

/**
 * How far ahead of an endorsing peer's clock `advanceClock` may set the ledger clock. Rounds are
 * dated no earlier than the clock, and a revocation may not be dated before its consent's last
 * use: a member that could push the clock to the edge of the 5 min skew would make every honest
 * revocation after the next round wait that long.
 */
export const MAX_CLOCK_LEAD_MS = 30_000;
/**
 * The least time between two `advanceClock`s: each one makes every openRound endorsed before it
 * fail, so a member sending them back to back could keep rounds from committing.
 */
export const MIN_CLOCK_ADVANCE_MS = 10_000;

/** Why an advanceClock to `proposalMs` is refused, given the clock and this peer's time. */
export function clockAdvanceProblem(
  proposalMs: number,
  clockMs: number,
  peerNowMs: number,
): string | undefined {
  if (proposalMs > peerNowMs + MAX_CLOCK_LEAD_MS)
    return `its time is ${Math.round((proposalMs - peerNowMs) / 1000)} s ahead of this peer's clock; the ledger clock may lead by at most ${MAX_CLOCK_LEAD_MS / 1000} s`;
  if (proposalMs < clockMs + MIN_CLOCK_ADVANCE_MS)
    return `the ledger clock already reads ${new Date(clockMs).toISOString()}; it advances at most once every ${MIN_CLOCK_ADVANCE_MS / 1000} s`;
  return undefined;
}
