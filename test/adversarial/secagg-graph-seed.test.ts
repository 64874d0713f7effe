import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { seededRandom } from '../../crypto/random.ts';
import { type RoundContext, withGraphSeed } from '../../crypto/secagg/config.ts';
import {
  contributedGraphSeed,
  type SeedReveal,
  seedCommitment,
  seedCommitmentsDigest,
} from '../../crypto/secagg/graph-seed.ts';
import { hararyGraph, type NeighbourGraph } from '../../crypto/secagg/graph.ts';
import { asAgreementChannel } from '../support/agreement-channel.ts';
import type { VeilsumError } from '../../sdk/errors.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import {
  type Attack,
  type HarnessRound,
  MaliciousCoordinator,
} from '../support/malicious-coordinator.ts';

/**
 * A coordinator that tries to choose the SecAgg+ graph, against the unmodified member SDK over
 * mTLS gRPC. Its goal is the classic isolation: victim 1's share holders among the members it
 * controls (here a first step: 49 and 50 beside the victim), so that with their shares it
 * recovers x_1. At n = 8 with k = 4, t = 3 (before members took sparse graphs only from 50
 * on), the ledger-seed grinding put all four of 1's holders among 5–8 on the old code. It tries
 * every lever it has: grinding the seed it derives from its own ledger transaction (round ids),
 * substituting a reveal once it has seen the others, computing the seed without one, and showing
 * a member a digest of commitments it made up.
 */
const MEMBERS = 50;
const VICTIM = 1;
/** Members the coordinator controls; it wants both beside the victim (a step to isolating it). */
const CONTROLLED = [49, 50];
/** What a default member takes at n = 50 (members take sparse graphs from 50 on): k = 12, t = 9. */
const SPARSE: HarnessRound = {
  members: [],
  degree: 12,
  threshold: 9,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.05,
};

const isolates = (graph: NeighbourGraph) =>
  CONTROLLED.every((peer) => graph.neighbours(VICTIM).includes(peer));

const agreed = asAgreementChannel;

const graphOf = (neighbours: (index: number) => readonly number[]) =>
  Array.from({ length: MEMBERS }, (_, i) => [...neighbours(i + 1)].join(',')).join(' | ');

describe('SecAgg+ graph seed: a coordinator that tries to choose the graph', () => {
  let consortium: Consortium;
  let counter = 0;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'seed');
  }, 300_000);
  afterAll(() => rmSync(consortium.directory, { recursive: true, force: true }));

  async function play(
    attack: Attack,
    open: (coordinator: MaliciousCoordinator) => Promise<{ roundId: string }>,
  ) {
    const coordinator = new MaliciousCoordinator(consortium, attack, `seed-${++counter}`);
    await coordinator.start();
    const opened = await open(coordinator);
    const clients = consortium.members.map((member) =>
      VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
        ledger: agreed(coordinator.ledgerFor(member)),
        ledgerWaitMs: 6_000,
      }),
    );
    try {
      const outcomes = await Promise.allSettled(
        clients.map((client, i) =>
          client.participate(
            opened.roundId,
            Float32Array.from({ length: 16 }, (_, j) => Math.cos(i + j) / 2),
            { waitForResult: false },
          ),
        ),
      );
      const refused = outcomes.flatMap((outcome, i) =>
        outcome.status === 'rejected'
          ? [{ member: i + 1, error: outcome.reason as VeilsumError }]
          : [],
      );
      return { coordinator, refused };
    } finally {
      for (const client of clients) client.close();
      await coordinator.stop();
    }
  }

  const spec = (phaseTimeoutMs?: number): HarnessRound => ({
    ...SPARSE,
    members: consortium.members,
    ...(phaseTimeoutMs ? { phaseTimeoutMs } : {}),
  });

  it('grinding its own ledger transaction (round ids) until that seed isolates the victim gains nothing: members shuffle with the seed they contribute', async () => {
    let ground: NeighbourGraph | undefined;
    const { coordinator, refused } = await play({}, async (harness) => {
      // Each RoundOpened is a transaction whose every input is the coordinator's (and members
      // replay a ledger of every ground one before they advertise: a long phase timeout).
      for (let roundNumber = 1; roundNumber <= 2_000; roundNumber++) {
        const round = await harness.open(spec(60_000), roundNumber);
        const graph = hararyGraph(MEMBERS, 12, seededRandom(new Uint8Array(round.graphSeed)));
        if (isolates(graph)) {
          ground = graph;
          return round;
        }
      }
      throw new Error('no round id isolated the victim');
    });
    expect(refused).toEqual([]);
    // What the members really did: whom each sent share boxes to.
    const used = graphOf((index) => coordinator.shareRecipients.get(index) ?? []);
    // It is the graph of the members' contributions, not the one the coordinator ground.
    expect(used).toBe(graphOf((index) => coordinator.context.graph.neighbours(index)));
    expect(used).not.toBe(graphOf((index) => ground!.neighbours(index)));
  }, 120_000);

  /** A contribution for `member` that, replacing its own, isolates the victim. */
  function grind(reveals: readonly SeedReveal[], member: number, context: RoundContext) {
    const base = new Map(reveals.map((reveal) => [reveal.sender, reveal.contribution]));
    for (let attempt = 1; ; attempt++) {
      const tried = new Map(base).set(member, seededRandom(attempt)(32));
      const seed = contributedGraphSeed(context.binding, tried);
      if (isolates(withGraphSeed(context, seed).graph)) return tried.get(member)!;
    }
  }

  it('substituting a reveal after seeing the others (ground so the victim is isolated) is refused by every member before any share leaves', async () => {
    let harness: MaliciousCoordinator | undefined;
    let substitute: Uint8Array | undefined;
    const attack: Attack = {
      keys: (_recipient, honest) => {
        substitute ??= grind(honest.seedReveals!, 50, harness!.context);
        return {
          ...honest,
          seedReveals: honest.seedReveals!.map((reveal) =>
            reveal.sender === 50 ? { ...reveal, contribution: substitute! } : reveal,
          ),
        };
      },
    };
    const { coordinator, refused } = await play(attack, async (opened) => {
      harness = opened;
      return opened.open(spec());
    });
    expect(substitute).toBeDefined();
    expect(refused.map(({ member }) => member)).toEqual(
      Array.from({ length: MEMBERS }, (_, i) => i + 1),
    );
    for (const { member, error } of refused) {
      expect(error.code).toBe(9);
      expect(error.message).toMatch(
        member === 50
          ? /ShareKeys: refusing to go on: the coordinator relayed another graph-seed contribution for client 50 than the one it revealed/
          : /ShareKeys: refusing to go on: the graph-seed reveals do not open the commitments shown before this member revealed/,
      );
    }
    // Nothing was shared under the ground graph, let alone revealed.
    expect(coordinator.shareRecipients.size).toBe(0);
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);

  it('computing the seed without one member’s reveal (as if it withheld it) is refused: no second seed to choose from', async () => {
    const attack: Attack = {
      keys: (_recipient, honest) => ({
        ...honest,
        seedReveals: honest.seedReveals!.filter((reveal) => reveal.sender !== 50),
      }),
    };
    const { coordinator, refused } = await play(attack, (harness) => harness.open(spec()));
    expect(refused.map(({ member }) => member)).toEqual(
      Array.from({ length: MEMBERS }, (_, i) => i + 1),
    );
    for (const { error } of refused)
      expect(error.message).toMatch(/the graph-seed reveals of U1 member\(s\) 50 are missing/);
    expect(coordinator.shareRecipients.size).toBe(0);
    expect(coordinator.reveals).toEqual([]);
  }, 60_000);

  it('showing a member a digest of commitments the coordinator made up, then reveals it chose, is refused by that member', async () => {
    let harness: MaliciousCoordinator | undefined;
    // Contributions the coordinator picks for everyone, committed before member 3 reveals.
    const chosen = new Map(
      Array.from({ length: MEMBERS }, (_, i) => [i + 1, seededRandom(100 + i)(32)] as const),
    );
    const attack: Attack = {
      seedCommitments: (recipient, honest) => {
        if (recipient !== 3) return honest;
        const { binding } = harness!.context;
        return {
          digest: seedCommitmentsDigest(
            binding,
            new Map([...chosen].map(([member, r]) => [member, seedCommitment(binding, member, r)])),
          ),
        };
      },
      keys: (recipient, honest) =>
        recipient !== 3
          ? honest
          : {
              ...honest,
              seedReveals: [...chosen].map(([sender, contribution]) => ({ sender, contribution })),
            },
    };
    const { refused } = await play(attack, async (opened) => {
      harness = opened;
      return opened.open(spec());
    });
    const three = refused.find(({ member }) => member === 3);
    expect(three?.error.message).toMatch(
      /ShareKeys: refusing to go on: the coordinator relayed another graph-seed contribution for client 3 than the one it revealed/,
    );
  }, 60_000);
});
