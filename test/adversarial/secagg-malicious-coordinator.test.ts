import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { RoundManifest } from '../../ledger/records.ts';
import { Adversary } from '../../proto/gen/veilsum/v1/round.ts';
import type { MemberThreatModel } from '../../sdk/round-verification.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import {
  type Attack,
  type HarnessRound,
  MaliciousCoordinator,
} from '../support/malicious-coordinator.ts';
import { playHarnessRound, refusals } from '../support/harness-round.ts';

/**
 * A malicious coordinator against the unmodified member SDK: every attack of issue 10 played
 * over mTLS gRPC on 127.0.0.1, with the members reading their own view of an embedded ledger
 * that the coordinator writes under the contract's rules. Each attack must be refused by the
 * members with a status naming it, and no member's input may become recoverable: the coordinator
 * must never hold both kinds of share (self-mask seed b and masking key s^SK) of any owner.
 */
const MEMBERS = 8;
/**
 * The complete graph against a semi-malicious server: k = 7, t = 5 > (n + γn)/2, min
 * contributors 7. Members reading an embedded ledger take nothing else (it is no agreement
 * channel: test/adversarial/secagg-embedded-ledger.test.ts), and below 50 members no member
 * takes a sparse graph.
 */
const COMPLETE: HarnessRound = {
  members: [],
  degree: MEMBERS - 1,
  threshold: 5,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.125,
};

describe('SecAgg+ members against a malicious coordinator', () => {
  let consortium: Consortium;
  const spec = (overrides: Partial<HarnessRound> = {}): HarnessRound => ({
    ...COMPLETE,
    members: consortium.members,
    ...overrides,
  });
  let counter = 0;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'adv');
  });
  afterAll(() => undefined);

  /** Runs every member's SDK against the harness; returns each member's outcome. */
  const play = (
    attack: Attack,
    round: HarnessRound,
    policy: MemberThreatModel = {},
    onOpened: (coordinator: MaliciousCoordinator) => void = () => {},
  ) =>
    playHarnessRound(consortium, attack, round, { policy, onOpened, name: `attack-${++counter}` });

  function expectNothingRecoverable(coordinator: MaliciousCoordinator): void {
    expect(coordinator.ownersWithBothShareKinds()).toEqual([]);
    expect(coordinator.recoverableOwners()).toEqual([]);
  }

  it('an honest run through the same harness completes (the attacks below are what fails)', async () => {
    const { coordinator, outcomes } = await play({}, spec());
    expect(refusals(outcomes)).toEqual([]);
    expect(coordinator.reveals).toHaveLength(MEMBERS);
    expectNothingRecoverable(coordinator);
  }, 60_000);

  it('split survivor views: members shown a U3 other than the committed one refuse to sign or reveal', async () => {
    // Victim 1: three of its neighbours are told it dropped (so they would reveal shares of its
    // masking key) while everyone else is told it survived (and reveals shares of its b).
    let victimNeighbours: readonly number[] = [];
    const attack: Attack = {
      survivors: (recipient, honest) =>
        victimNeighbours.includes(recipient) ? honest.filter((member) => member !== 1) : honest,
    };
    const { coordinator, opened, outcomes } = await play(attack, spec(), {}, (harness) => {
      victimNeighbours = harness.context.graph.neighbours(1).slice(0, 3);
    });
    // Checked first: without the committed U3 the coordinator holds both kinds of share of 1.
    expectNothingRecoverable(coordinator);
    // The ledger takes one U3 per round: the coordinator cannot commit the second view.
    const file = new EmbeddedLedgerDatabase(
      coordinator.ledgerPath,
      readFileSync(consortium.pki.caCertificatePath),
    );
    await expect(
      new Ledger(file.as(consortium.local.ledgerWriter('veilsum-coordinator'))).commitRoundPhase(
        opened.roundId,
        'masked',
        consortium.members.map((_, i) => i + 1).filter((member) => member !== 1),
      ),
    ).rejects.toThrow(/already committed its masked set; one value per round and phase/);
    file.close();
    const refused = refusals(outcomes);
    expect(refused.map((r) => r.member)).toEqual([...victimNeighbours].sort((a, b) => a - b));
    for (const { error } of refused) {
      expect(error.code).toBe(9); // FAILED_PRECONDITION
      expect(error.message).toMatch(
        /SignSurvivors: refusing to go on: the coordinator served a survivor set that differs from the committed U3 \(not committed: \[\]; committed but not served: \[1\]\)/,
      );
    }
  }, 60_000);

  it('forwarding only some neighbours’ keys: the member refuses to share, naming the withheld neighbour', async () => {
    let withheld = 0;
    const attack: Attack = {
      keys: (recipient, honest) => {
        if (recipient !== 1) return honest;
        withheld = honest.keys[0]!.sender;
        return { keys: honest.keys.slice(1) };
      },
    };
    const { coordinator, outcomes } = await play(attack, spec());
    const refused = refusals(outcomes);
    expect(refused.map((r) => r.member)).toEqual([1]);
    expect(refused[0]!.error.code).toBe(9);
    expect(refused[0]!.error.message).toMatch(
      new RegExp(
        `ShareKeys: refusing to go on: the coordinator withheld the keys of neighbour\\(s\\) ${withheld} that the committed U1 lists`,
      ),
    );
    expectNothingRecoverable(coordinator);
  }, 60_000);

  it('substituting a peer’s identity key (on the ledger and in the roster): its neighbours check the CA certificate and refuse', async () => {
    const fake = nativeCurve25519.ed25519PublicKey(new Uint8Array(32).fill(7));
    const attack: Attack = {
      manifest: (honest: RoundManifest) => ({
        ...honest,
        identityKeys: honest.identityKeys.map((key, i) =>
          i === 1 ? Buffer.from(fake).toString('hex') : key,
        ),
      }),
      round: (honest) => ({
        ...honest,
        roster: honest.roster.map((entry) =>
          entry.index === 2 ? { ...entry, identityKey: Buffer.from(fake) } : entry,
        ),
      }),
    };
    const { coordinator, outcomes } = await play(attack, spec());
    const neighbours = coordinator.context.graph.neighbours(2);
    const refused = refusals(outcomes);
    // 2 and its neighbours refuse by name; the rest then lose the round (too few remain).
    expect(refused).toHaveLength(MEMBERS);
    for (const { member, error } of refused) {
      expect(error.message).toMatch(
        member === 2
          ? /the roster lists another identity key for adv-02 than its own certificate's/
          : neighbours.includes(member)
            ? /the identity key of member adv-02 is not the key of its CA-issued certificate/
            : /below the round's 7 min contributors|aborted/,
      );
      if (member === 2 || neighbours.includes(member)) expect(error.code).toBe(9);
    }
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);

  it('serving an identity key other than the ledger’s is refused by name', async () => {
    const fake = nativeCurve25519.ed25519PublicKey(new Uint8Array(32).fill(9));
    const attack: Attack = {
      round: (honest) => ({
        ...honest,
        roster: honest.roster.map((entry) =>
          entry.index === 3 ? { ...entry, identityKey: Buffer.from(fake) } : entry,
        ),
      }),
    };
    const { coordinator, outcomes } = await play(attack, spec());
    const refused = refusals(outcomes);
    expect(refused).toHaveLength(MEMBERS);
    for (const { member, error } of refused) {
      expect(error.message).toMatch(
        member === 3
          ? /another identity key for adv-03/
          : /the identity key served for member adv-03 is not the one on the ledger/,
      );
    }
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);

  it('serving a weaker threshold than the ledger’s is refused, naming t', async () => {
    const attack: Attack = {
      round: (honest) => ({ ...honest, params: { ...honest.params!, threshold: 2 } }),
    };
    const { coordinator, outcomes } = await play(attack, spec());
    const refused = refusals(outcomes);
    expect(refused).toHaveLength(MEMBERS);
    for (const { error } of refused) {
      expect(error.code).toBe(9);
      expect(error.message).toMatch(/the served threshold t 2 differs from the ledger's 5/);
    }
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);

  it('committing weak (k, t) on the ledger itself is refused: members recompute t from n, γ, δ', async () => {
    // Complete graph against a semi-malicious server needs t > (n + γn)/2 = 4.5; t = 2 is the
    // "k = n − 1, t = 2" of the issue.
    const { coordinator, outcomes } = await play({}, spec({ degree: MEMBERS - 1, threshold: 2 }));
    const refused = refusals(outcomes);
    expect(refused).toHaveLength(MEMBERS);
    for (const { error } of refused) {
      expect(error.message).toMatch(
        /weak parameters: threshold 2 is below the secure minimum 5 for degree 7/,
      );
    }
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);

  it('a semi-honest downgrade is refused: served against the ledger, or on the ledger against the member’s policy', async () => {
    const served = await play(
      {
        round: (honest) => ({
          ...honest,
          params: { ...honest.params!, adversary: Adversary.ADVERSARY_SEMI_HONEST },
        }),
      },
      spec(),
    );
    for (const { error } of refusals(served.outcomes))
      expect(error.message).toMatch(
        /the served adversary model semi-honest differs from the ledger's semi-malicious/,
      );
    expect(refusals(served.outcomes)).toHaveLength(MEMBERS);

    const committed = await play(
      {},
      spec({ adversary: 'semi-honest', degree: MEMBERS - 1, threshold: 3 }),
      { minimumAdversary: 'semi-malicious' },
    );
    expect(refusals(committed.outcomes)).toHaveLength(MEMBERS);
    for (const { error } of refusals(committed.outcomes))
      expect(error.message).toMatch(
        /adversary model semi-honest is a downgrade this member refuses without a ledger that is an agreement channel/,
      );
    expect(served.coordinator.reveals).toEqual([]);
    expect(committed.coordinator.reveals).toEqual([]);
  }, 60_000);

  it('a graph seed the coordinator ground itself is refused: the seed is the ledger’s', async () => {
    const attack: Attack = {
      round: (honest) => ({ ...honest, graphSeed: Buffer.alloc(32, 0x42) }),
    };
    const { coordinator, outcomes } = await play(attack, spec());
    const refused = refusals(outcomes);
    expect(refused).toHaveLength(MEMBERS);
    for (const { error } of refused) {
      expect(error.message).toMatch(
        /the served graph seed is not the ledger's \(derived from the RoundOpened transaction\)/,
      );
    }
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);

  it('a sum below min contributors is refused before anything is revealed', async () => {
    // The coordinator drops two uploads from U3 (6 of 8 < 7) and serves what it committed.
    const attack: Attack = {
      commit: (phase, honest) => (phase === 'masked' ? honest.slice(2) : honest),
      survivors: (_recipient, honest) => honest.slice(2),
    };
    const { coordinator, outcomes } = await play(attack, spec());
    const refused = refusals(outcomes);
    expect(refused).toHaveLength(MEMBERS);
    for (const { member, error } of refused) {
      expect(error.message).toMatch(
        member <= 2
          ? /is not in the committed U3/
          : /the committed U3 \(members whose masked inputs count\) has 6 members, below the round's 7 min contributors/,
      );
    }
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);
});
