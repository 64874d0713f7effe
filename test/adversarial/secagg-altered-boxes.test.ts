import { beforeAll, describe, expect, it } from '@jest/globals';
import type { SharesDelivery } from '../../crypto/secagg/messages.ts';
import { chooseGraphParameters } from '../../crypto/secagg/parameters.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { type HarnessOutcome, playHarnessRound, refusals } from '../support/harness-round.ts';
import type { Attack, HarnessRound } from '../support/malicious-coordinator.ts';

/**
 * A coordinator that flips bits of share boxes it relays, so that honest members complain, then
 * reads everything they send it (issue 17, item 1). Two variants: every box relayed TO the victim
 * (the victim complains about all its neighbours), and the victim's own boxes to t of its holders
 * (they complain about the victim). With the pair's box key as evidence, each complaint opened
 * the victim's boxes and the coordinator recovered its input. Now boxes are signed by their
 * sender: a member delivered an altered box stops, naming the coordinator, and reveals nothing.
 * Played against the unmodified SDK over mTLS gRPC, with the SDK's default policy, at n = 20
 * (complete graph) and n = 100 (sparse), with and without a ledger view; "recoverable" is
 * computed from everything the coordinator received (reveals, boxes, complaint evidence).
 */
const VICTIM = 1;

/** The round a default member accepts: semi-malicious, γ = δ = 0.05 (parameters.ts finder). */
const complete20 = (members: string[]): HarnessRound => ({
  members: members.slice(0, 20),
  degree: 19,
  threshold: 11,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.05,
  // Every member here answers (the attack stops some): wait long enough on a loaded machine.
  phaseTimeoutMs: 15_000,
});
// What a default member accepts at n = 100 (the finder's strict semi-malicious (k, t)).
const SPARSE_100 = chooseGraphParameters({
  clients: 100,
  corruptionRate: 0.05,
  dropoutRate: 0.05,
  adversary: 'semi-malicious',
});
const sparse100 = (members: string[]): HarnessRound => ({
  members: members.slice(0, 100),
  degree: SPARSE_100.degree,
  threshold: SPARSE_100.threshold,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.05,
  // Every member here answers (the attack stops some): wait long enough on a loaded machine.
  phaseTimeoutMs: 60_000,
});

const flip = (delivery: SharesDelivery, owner?: number): SharesDelivery => ({
  encryptedShares: delivery.encryptedShares.map((box) => {
    if (owner !== undefined && box.peer !== owner) return box;
    const ciphertext = box.ciphertext.slice();
    ciphertext[ciphertext.length - 1]! ^= 1;
    return { ...box, ciphertext };
  }),
});

describe('SecAgg+ share boxes altered by the coordinator', () => {
  let consortium: Consortium;
  let counter = 0;

  beforeAll(async () => {
    consortium = await createConsortium(100, 'box');
  }, 300_000);

  /** Flips bits of every box relayed to the victim: it would complain about all neighbours. */
  function toVictim(): { attack: Attack; tampered: Set<number> } {
    const tampered = new Set<number>();
    return {
      tampered,
      attack: {
        shares: (recipient, honest) => {
          if (recipient !== VICTIM) return honest;
          tampered.add(recipient);
          return flip(honest);
        },
      },
    };
  }

  /** Flips bits of the victim's boxes to t of its holders: they would complain about it. */
  function fromVictim(): {
    attack: Attack;
    tampered: Set<number>;
    /** The victim's neighbours, asked for once the graph is known (after the members' seed). */
    arm: (neighbours: () => readonly number[], threshold: number) => void;
  } {
    const tampered = new Set<number>();
    let holders: () => readonly number[] = () => [];
    return {
      tampered,
      arm: (neighbours, threshold) => {
        holders = () => neighbours().slice(0, threshold);
      },
      attack: {
        shares: (recipient, honest) => {
          if (!holders().includes(recipient)) return honest;
          tampered.add(recipient);
          return flip(honest, VICTIM);
        },
      },
    };
  }

  /**
   * Nothing recoverable from everything received; no complaint was ever sent (an altered box is
   * never complained about); each member delivered an altered box stopped naming the coordinator.
   */
  function expectStoppedWithoutLeaking(
    { coordinator, outcomes }: HarnessOutcome,
    tampered: ReadonlySet<number>,
  ): void {
    expect(coordinator.recoverableOwners()).toEqual([]);
    expect(coordinator.ownersWithBothShareKinds()).toEqual([]);
    expect(coordinator.complaints).toEqual([]);
    const refused = refusals(outcomes);
    // (On failure, the distinct refusals say how far the round got.)
    const reasons = [...new Set(refused.map((r) => r.error.message))];
    expect({ tampered: tampered.size > 0, refused: tampered.size > 0 ? [] : reasons }).toEqual({
      tampered: true,
      refused: [],
    });
    for (const member of tampered) {
      const refusal = refused.find((r) => r.member === member);
      expect(refusal?.error.code).toBe(9); // FAILED_PRECONDITION
      expect(refusal?.error.message).toMatch(
        /MaskedInput: refusing to go on: the share box from client \d+ does not carry client \d+'s signature: the coordinator altered or forged it; revealing nothing further/,
      );
    }
    // The others completed, or lost the round once too few remained (or, on a starved machine,
    // timed out): none of them saw a bad box or was asked for anything the attack could use.
    for (const { member, error } of refused) {
      if (tampered.has(member)) continue;
      expect(error.message).not.toMatch(/share box|complain/);
    }
  }

  const cases = [
    { name: 'n = 20, complete graph', round: complete20 },
    { name: 'n = 100, sparse graph', round: sparse100 },
  ];

  for (const { name, round } of cases) {
    for (const ledger of [true, false]) {
      const view = ledger ? 'with a ledger view' : 'without a ledger';
      it(`${name}, ${view}: boxes altered on their way TO the victim → it stops, naming the coordinator; nothing recoverable`, async () => {
        const { attack, tampered } = toVictim();
        const outcome = await playHarnessRound(consortium, attack, round(consortium.members), {
          ledger,
          // A sparse round with a ledger view is Fabric's configuration (each bank's own peer).
          agreementChannel: round === sparse100,
          name: `to-victim-${++counter}`,
        });
        if (!ledger && round === sparse100) {
          // A member without a ledger takes no sparse round at all: refused before any box.
          expect(refusals(outcome.outcomes)).toHaveLength(100);
          expect(outcome.coordinator.reveals).toEqual([]);
          expect(outcome.coordinator.recoverableOwners()).toEqual([]);
          return;
        }
        expectStoppedWithoutLeaking(outcome, tampered);
        // Only the victim was tampered with; it dropped, and the others went on without it.
        expect(outcome.coordinator.participantSets().shared).toContain(VICTIM);
        expect(outcome.coordinator.participantSets().masked).not.toContain(VICTIM);
      }, 300_000);

      it(`${name}, ${view}: the victim's boxes altered on their way to t of its holders → they stop, naming the coordinator; nothing recoverable`, async () => {
        const { attack, tampered, arm } = fromVictim();
        const spec = round(consortium.members);
        const outcome = await playHarnessRound(consortium, attack, spec, {
          ledger,
          agreementChannel: round === sparse100,
          name: `from-victim-${++counter}`,
          onOpened: (harness) =>
            arm(() => harness.context.graph.neighbours(VICTIM), spec.threshold),
        });
        if (!ledger && round === sparse100) {
          expect(refusals(outcome.outcomes)).toHaveLength(100);
          expect(outcome.coordinator.reveals).toEqual([]);
          expect(outcome.coordinator.recoverableOwners()).toEqual([]);
          return;
        }
        expectStoppedWithoutLeaking(outcome, tampered);
        expect(tampered.size).toBe(spec.threshold);
      }, 300_000);
    }
  }
});
