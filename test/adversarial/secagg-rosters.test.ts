import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync } from 'node:fs';
import { Ledger } from '../../ledger/ledger.ts';
import { connectMembers, takePart } from '../support/harness-members.ts';
import { expectAllRefused } from '../support/refusal.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { type HarnessRound, MaliciousCoordinator } from '../support/malicious-coordinator.ts';

/**
 * A coordinator that fills the roster itself, against members on the SDK's default policy
 * (semi-malicious, γ, δ ≥ 0.05), through the SDK over mTLS gRPC. Its own slots run in the
 * harness as members would, and every share box a member sends to them counts as received by
 * the coordinator (with the Unmask reveals) when "recoverable" is computed.
 * Before honest rosters, the 30-slot attack completed the round and recovered all 20 inputs.
 */
const REAL = 20;
const COORDINATOR = 'veilsum-coordinator';

describe('SecAgg rosters a coordinator fills with identities it holds', () => {
  let consortium: Consortium;
  let counter = 0;

  beforeAll(async () => {
    consortium = await createConsortium(REAL, 'ros');
  });
  afterAll(() => rmSync(consortium.directory, { recursive: true, force: true }));

  /** n = |roster|, complete graph, t = ⌊(n + γn)/2⌋ + 1, δ = 0.05, the given slots the coordinator's. */
  const completeRound = (roster: string[], controlled: number[] = []): HarnessRound => {
    const n = roster.length;
    return {
      members: roster,
      degree: n - 1,
      threshold: Math.floor((n + Math.ceil(0.05 * n)) / 2) + 1,
      adversary: 'semi-malicious',
      corruptionRate: 0.05,
      dropoutRate: 0.05,
      controlled,
    };
  };

  async function play(
    spec: HarnessRound,
    options: {
      ledger: boolean;
      pinned?: boolean;
      before?: (c: MaliciousCoordinator) => Promise<void>;
    },
  ) {
    const coordinator = new MaliciousCoordinator(consortium, {}, `roster-${++counter}`);
    await coordinator.start();
    try {
      const opened = await coordinator.open({ ...spec, ledger: options.ledger });
      await options.before?.(coordinator);
      const real = spec.members.filter(
        (id, i) => consortium.members.includes(id) && !coordinator.controlledSlots.includes(i + 1),
      );
      const clients = connectMembers(consortium, coordinator, real, {
        ...(options.pinned === false ? { pinned: false } : {}),
        ...(options.ledger ? { ledger: (member: string) => coordinator.ledgerFor(member) } : {}),
      });
      return { coordinator, outcomes: await takePart(clients, opened.roundId) };
    } finally {
      await coordinator.stop();
    }
  }

  it('without a ledger: its own certificate in 30 slots beside 20 members (n = 50, t = 27) is refused; nothing recoverable', async () => {
    const roster = [...consortium.members, ...Array.from({ length: 30 }, () => COORDINATOR)];
    const slots = Array.from({ length: 30 }, (_, i) => REAL + i + 1);
    // 20 SDK members on a loaded machine: give each phase time (phases close when all spoke).
    const spec = { ...completeRound(roster, slots), phaseTimeoutMs: 30_000 };
    expect(spec.threshold).toBe(27);
    const { coordinator, outcomes } = await play(spec, { ledger: false });
    // Checked first: the coordinator's slots would hold ≥ t boxes of every member.
    expect(coordinator.recoverableOwners()).toEqual([]);
    expectAllRefused(
      outcomes,
      /refusing the round: the roster lists member veilsum-coordinator in more than one slot/,
    );
    expect(coordinator.reveals).toEqual([]);
  }, 120_000);

  it('without a ledger: operator identities (coordinator, administrator) in the roster are refused by the pinned member list', async () => {
    const roster = [...consortium.members.slice(0, 8), COORDINATOR, ADMIN];
    const { coordinator, outcomes } = await play(completeRound(roster, [9, 10]), {
      ledger: false,
    });
    expect(coordinator.recoverableOwners()).toEqual([]);
    expectAllRefused(
      outcomes,
      /the roster lists veilsum-coordinator, veilsum-admin, not among this member's consortium members/,
    );
  }, 60_000);

  it('without a ledger and without a pinned member list, a member refuses to check a roster it cannot', async () => {
    const roster = consortium.members.slice(0, 8);
    const { outcomes } = await play(completeRound(roster), { ledger: false, pinned: false });
    expectAllRefused(outcomes, /without a ledger this member needs its consortium's member list/);
  }, 60_000);

  it("with a ledger: the contract opens no round listing the coordinator's own identity", async () => {
    const roster = [...consortium.members.slice(0, 8), COORDINATOR];
    await expect(play(completeRound(roster, [9]), { ledger: true })).rejects.toThrow(
      /roster entry veilsum-coordinator holds the operator role coordinator; rosters list members only/,
    );
  }, 60_000);

  it('with a ledger: the administrator registered as a member passes the contract, and members refuse it by their pinned list', async () => {
    const roster = [...consortium.members.slice(0, 8), ADMIN];
    const { coordinator, outcomes } = await play(completeRound(roster, [9]), { ledger: true });
    expect(coordinator.recoverableOwners()).toEqual([]);
    expectAllRefused(
      outcomes,
      /the roster lists veilsum-admin, not among this member's consortium members/,
    );
  }, 60_000);

  it('with a ledger: a roster entry that holds an operator role there is refused by members on their own', async () => {
    // Roles only grow: after RoundOpened the coordinator makes member 8 a keyholder too. Members
    // without a pinned list read the roles on their ledger view and refuse.
    const roster = consortium.members.slice(0, 8);
    const { coordinator, outcomes } = await play(completeRound(roster), {
      ledger: true,
      pinned: false,
      before: async (harness) => {
        await new Ledger(
          harness.database.as(consortium.local.ledgerWriter(COORDINATOR)),
        ).registerMember(roster[7]!, ['keyholder']);
      },
    });
    expect(coordinator.reveals).toEqual([]);
    expectAllRefused(
      outcomes,
      /roster entry ros-08 holds the operator role keyholder on the ledger; rosters list members only/,
    );
  }, 60_000);
});
