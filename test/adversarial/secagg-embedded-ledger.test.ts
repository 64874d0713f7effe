import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { chooseGraphParameters } from '../../crypto/secagg/parameters.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { type ContractGateway, Ledger } from '../../ledger/ledger.ts';
import { Adversary, Round } from '../../proto/gen/veilsum/v1/round.ts';
import { checkThreatModel } from '../../sdk/round-verification.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { connectMembers, takePart } from '../support/harness-members.ts';
import {
  type Attack,
  type HarnessRound,
  MaliciousCoordinator,
} from '../support/malicious-coordinator.ts';
import { expectAllRefused } from '../support/refusal.ts';

/**
 * The embedded ledger is one file its owner — the coordinator — can fork: it hands some members
 * a copy on which it committed a second U3 (RoundOpened, U1 and U2 identical, every block signed
 * and every transaction one the contract accepts on that copy). Members with an embedded view
 * therefore treat it as no agreement channel: only a semi-malicious complete-graph round, whose
 * signed survivor sets let at most one U3 reach t signatures. Played through the SDK over gRPC.
 * Before this rule, members accepted the sparse round below and the fork recovered member v's
 * input exactly (5 colluders among its 12 neighbours, n = 50).
 */
const N = 50;
const COORDINATOR = 'veilsum-coordinator';

describe('members with an embedded-ledger view against a coordinator that forks it', () => {
  let consortium: Consortium;
  let counter = 0;

  beforeAll(async () => {
    consortium = await createConsortium(N, 'emb');
  });
  afterAll(() => rmSync(consortium.directory, { recursive: true, force: true }));

  /**
   * The fork: once U2 is committed the coordinator copies its ledger file, commits on the copy
   * a U3 without `victim`, and from then on `told` members read the copy.
   */
  function forkedU3(victim: number, told: () => readonly number[]) {
    let fork: EmbeddedLedgerDatabase | undefined;
    let harness!: MaliciousCoordinator;
    const attack: Attack = {
      commit: async (phase, honest) => {
        if (phase !== 'masked') return honest;
        const path = `${harness.ledgerPath}.fork`;
        const source = new Database(harness.ledgerPath, { readonly: true });
        await source.backup(path);
        source.close();
        fork = new EmbeddedLedgerDatabase(path, readFileSync(consortium.pki.caCertificatePath));
        await new Ledger(fork.as(consortium.local.ledgerWriter(COORDINATOR))).commitRoundPhase(
          harness.round.roundId,
          'masked',
          honest.filter((member) => member !== victim),
        );
        return honest;
      },
      survivors: (recipient, honest) =>
        told().includes(recipient) ? honest.filter((member) => member !== victim) : honest,
    };
    /** What a member reads: the coordinator's file, or — for the told — the fork once made. */
    const viewFor = (member: string): Ledger => {
      const index = consortium.members.indexOf(member) + 1;
      const main = harness.ledgerFor(member);
      if (!told().includes(index)) return main;
      const writer = consortium.local.ledgerWriter(member);
      const gateway: ContractGateway = {
        submit: (fn, args) =>
          (fork ? fork.as(writer) : harness.database.as(writer)).submit(fn, args),
        evaluate: (fn, args) =>
          (fork ? fork.as(writer) : harness.database.as(writer)).evaluate(fn, args),
      };
      return new Ledger(gateway);
    };
    return {
      attack,
      bind: (coordinator: MaliciousCoordinator) => (harness = coordinator),
      viewFor,
      close: () => fork?.close(),
    };
  }

  async function play(
    spec: HarnessRound,
    victim: number,
    pick: (c: MaliciousCoordinator) => number[],
  ) {
    let told: number[] = [];
    const fork = forkedU3(victim, () => told);
    const coordinator = new MaliciousCoordinator(consortium, fork.attack, `fork-${++counter}`);
    fork.bind(coordinator);
    await coordinator.start();
    try {
      const opened = await coordinator.open(spec);
      told = pick(coordinator);
      const honest = spec.members.filter((_, i) => !coordinator.controlledSlots.includes(i + 1));
      const clients = connectMembers(consortium, coordinator, honest, { ledger: fork.viewFor });
      const outcomes = await takePart(clients, opened.roundId);
      return { coordinator, outcomes, told };
    } finally {
      await coordinator.stop();
      fork.close();
    }
  }

  it('a sparse round (n = 50, k and t from the finder) is refused by every member reading an embedded ledger; nothing recoverable', async () => {
    const { degree, threshold } = chooseGraphParameters({
      clients: N,
      corruptionRate: 0.05,
      dropoutRate: 0.05,
      adversary: 'semi-malicious',
    });
    expect(degree).toBeLessThan(N - 1);
    const victim = 1;
    const colluders = 5;
    const spec: HarnessRound = {
      members: consortium.members,
      degree,
      threshold,
      adversary: 'semi-malicious',
      corruptionRate: 0.05,
      dropoutRate: 0.05,
      phaseTimeoutMs: 20_000,
      // Five colluding slots. The sparse graph is drawn from the members' seed reveals, which come
      // only after U1 (crypto/secagg/graph-seed.ts), so the coordinator cannot place them among
      // the victim's neighbours in advance; members with an embedded view refuse before that anyway.
      controlled: Array.from({ length: colluders }, (_, i) => N - i),
    };
    const { coordinator, outcomes } = await play(spec, victim, () =>
      // The honest members told the victim dropped: any t of them (nobody gets that far).
      Array.from({ length: threshold }, (_, i) => i + 2),
    );
    // Checked first: the fork would have handed the coordinator ≥ t shares of b_v and s_v^SK.
    expect(coordinator.recoverableOwners()).toEqual([]);
    expectAllRefused(
      outcomes,
      new RegExp(
        `degree k ${degree}: a sparse semi-malicious round needs the ledger to agree on the survivor sets .*the embedded ledger is one file its owner can fork`,
      ),
    );
    expect(coordinator.reveals).toEqual([]);
  }, 240_000);

  it('the same member accepts that sparse round when its ledger is an agreement channel (Fabric), and not with 49 members', () => {
    const { degree, threshold } = chooseGraphParameters({
      clients: N,
      corruptionRate: 0.05,
      dropoutRate: 0.05,
      adversary: 'semi-malicious',
    });
    const round = Round.fromPartial({
      roster: consortium.members.map((memberId, i) => ({ memberId, index: i + 1 })),
      params: {
        adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
        degree,
        threshold,
        corruptionRate: 0.05,
        dropoutRate: 0.05,
        minContributors: N - 3,
      },
    });
    expect(() => checkThreatModel(round, undefined, { agreement: true })).not.toThrow();
    expect(() => checkThreatModel(round, undefined, { agreement: false })).toThrow(
      /needs the ledger to agree on the survivor sets/,
    );
    // One member fewer: below 50 the complete graph is a member rule, agreement or not.
    const smaller = Round.fromPartial({ ...round, roster: round.roster.slice(0, N - 1) });
    expect(() => checkThreatModel(smaller, undefined, { agreement: true })).toThrow(
      new RegExp(
        `degree k ${degree}: a round of 49 members runs on the complete graph \\(k = 48\\)`,
      ),
    );
    const file = new EmbeddedLedgerDatabase(
      `${consortium.directory}/probe.db`,
      readFileSync(consortium.pki.caCertificatePath),
    );
    try {
      expect(new Ledger(file.reader('emb-01')).agreementChannel).toBe(false);
    } finally {
      file.close();
    }
  });

  it('on the complete graph members accept, and a second U3 on the fork recovers nobody: its view never reaches t signatures', async () => {
    const roster = consortium.members.slice(0, 8);
    const victim = 1;
    const spec: HarnessRound = {
      members: roster,
      degree: 7,
      threshold: 5, // > (n + γn)/2 = 4.5
      adversary: 'semi-malicious',
      corruptionRate: 0.05,
      dropoutRate: 0.125,
      controlled: [8], // one colluder (γn = 1)
    };
    const { coordinator, outcomes, told } = await play(spec, victim, () => [2, 3, 4]);
    expect(coordinator.recoverableOwners()).toEqual([]);
    // The told members' U3 has 3 signatures (< t): they reveal nothing; the rest unmask.
    const refused = outcomes.flatMap((outcome, i) =>
      outcome.status === 'rejected' ? [{ member: i + 1, reason: String(outcome.reason) }] : [],
    );
    expect(refused.map((r) => r.member)).toEqual(told);
    for (const { reason } of refused)
      expect(reason).toMatch(/only 3 clients signed the survivor set, threshold is 5/);
    const revealedMaskingKeys = coordinator.reveals.flatMap((m) =>
      m.maskingKeyShares.map((share) => share.owner),
    );
    expect(revealedMaskingKeys).not.toContain(victim);
  }, 120_000);
});
