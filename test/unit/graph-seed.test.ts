import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { seededRandom } from '../../crypto/random.ts';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import { withGraphSeed } from '../../crypto/secagg/config.ts';
import {
  LedgerMismatchError,
  MalformedMessageError,
  PhaseOrderError,
  TooFewParticipantsError,
} from '../../crypto/secagg/errors.ts';
import {
  checkSeedReveals,
  contributedGraphSeed,
  type SeedReveal,
  seedCommitment,
  seedCommitments,
  seedCommitmentsDigest,
} from '../../crypto/secagg/graph-seed.ts';
import type { KeysBroadcast } from '../../crypto/secagg/messages.ts';
import { SecAggServer } from '../../crypto/secagg/server.ts';
import { simulateRound } from '../../crypto/secagg/simulation.ts';
import { roundFixture } from '../support/secagg-fixture.ts';

const binding = new Uint8Array(32).fill(9);

/** U1 (a random subset of 1..n), each member's contribution, and the digest D shown to all. */
const u1Arb = fc
  .uniqueArray(fc.integer({ min: 1, max: 500 }), { minLength: 2, maxLength: 40 })
  .chain((members) =>
    fc.record({
      members: fc.constant(members),
      contributions: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
        minLength: members.length,
        maxLength: members.length,
      }),
      self: fc.integer({ min: 0, max: members.length - 1 }),
      order: fc.array(fc.nat(), { minLength: members.length, maxLength: members.length }),
    }),
  )
  .map(({ members, contributions, self, order }) => {
    const byMember = new Map(members.map((member, i) => [member, contributions[i]!]));
    const digest = seedCommitmentsDigest(
      binding,
      new Map([...byMember].map(([m, r]) => [m, seedCommitment(binding, m, r)])),
    );
    // The coordinator relays reveals in an order of its choosing.
    const reveals: SeedReveal[] = members
      .map((sender, i) => ({ sender, contribution: byMember.get(sender)!, key: order[i]! }))
      .sort((a, b) => a.key - b.key)
      .map(({ sender, contribution }) => ({ sender, contribution }));
    return { members, byMember, digest, reveals, self: members[self]! };
  });

const check = (
  u1: { members: number[]; byMember: Map<number, Uint8Array>; digest: Uint8Array; self: number },
  reveals: readonly SeedReveal[],
) =>
  checkSeedReveals({
    binding,
    self: u1.self,
    ownContribution: u1.byMember.get(u1.self)!,
    committedDigest: u1.digest,
    advertised: u1.members,
    reveals,
  });

describe('graph seed from the members’ contributions (property)', () => {
  it('is H(binding, U1, every reveal) whatever order they are relayed in', () => {
    fc.assert(
      fc.property(u1Arb, (u1) => {
        const { seed } = check(u1, u1.reveals);
        expect(seed).toEqual(contributedGraphSeed(binding, u1.byMember));
        expect(check(u1, [...u1.reveals].reverse()).seed).toEqual(seed);
      }),
    );
  });

  it('refuses any reveal substituted after the digest was shown, whoever it is of', () => {
    fc.assert(
      fc.property(
        u1Arb,
        fc.nat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (u1, which, replacement) => {
          const target = u1.reveals[which % u1.reveals.length]!;
          fc.pre(!Buffer.from(replacement).equals(Buffer.from(target.contribution)));
          const ground = u1.reveals.map((reveal) =>
            reveal === target ? { ...reveal, contribution: replacement } : reveal,
          );
          expect(() => check(u1, ground)).toThrow(LedgerMismatchError);
          expect(() => check(u1, ground)).toThrow(
            target.sender === u1.self
              ? /another graph-seed contribution for client/
              : /do not open the commitments shown before this member revealed/,
          );
        },
      ),
    );
  });

  it('refuses a seed without one U1 member’s reveal (no second seed to choose from), or with an outsider’s', () => {
    fc.assert(
      fc.property(u1Arb, fc.nat(), (u1, which) => {
        const omitted = u1.reveals[which % u1.reveals.length]!;
        expect(() =>
          check(
            u1,
            u1.reveals.filter((reveal) => reveal !== omitted),
          ),
        ).toThrow(/graph-seed reveals of U1 member\(s\) \d+ are missing/);
        const outsider = { sender: 501, contribution: new Uint8Array(32) };
        expect(() => check(u1, [...u1.reveals, outsider])).toThrow(/not in U1/);
        expect(() => check(u1, [...u1.reveals, u1.reveals[0]!])).toThrow(MalformedMessageError);
      }),
    );
  });

  it('commits to all of U1 at once exactly as to each member alone', () => {
    fc.assert(
      fc.property(u1Arb, (u1) => {
        const batch = seedCommitments(binding, u1.byMember);
        for (const [member, contribution] of u1.byMember)
          expect(batch.get(member)).toEqual(seedCommitment(binding, member, contribution));
      }),
    );
  });

  it('changes with every single contribution (no entry is ignored)', () => {
    fc.assert(
      fc.property(u1Arb, fc.nat(), (u1, which) => {
        const member = u1.members[which % u1.members.length]!;
        const changed = new Map(u1.byMember);
        const flipped = changed.get(member)!.slice();
        flipped[0]! ^= 1;
        changed.set(member, flipped);
        expect(contributedGraphSeed(binding, changed)).not.toEqual(
          contributedGraphSeed(binding, u1.byMember),
        );
      }),
    );
  });
});

describe('graph seed in a round', () => {
  const sparse = () =>
    roundFixture({ clients: 12, degree: 4, threshold: 3, dimension: 4, seed: 31 });

  it('leaves a sparse graph unknown until the members have revealed', () => {
    const { context } = sparse();
    expect(() => context.graph.neighbours(1)).toThrow(PhaseOrderError);
    expect(withGraphSeed(context, new Uint8Array(32)).graph.neighbours(1)).toHaveLength(4);
  });

  it('gives server and every member the same graph, from seeds the server cannot pick', () => {
    const fixture = sparse();
    const graphs: number[][][] = [];
    for (const seed of [1, 2]) {
      // Same round, same identities: only the members' fresh contributions differ.
      const outcome = simulateRound({ ...fixture, random: seededRandom(seed) });
      graphs.push(
        Array.from({ length: 12 }, (_, i) => [...outcome.context.graph.neighbours(i + 1)]),
      );
      expect(outcome.result.included).toHaveLength(12);
    }
    expect(graphs[0]).not.toEqual(graphs[1]);
  });

  it('a member shown one digest and then reveals that do not open it refuses at ShareKeys', () => {
    const fixture = sparse();
    const outcome = simulateRound({
      ...fixture,
      serverMoves: {
        // The server shows member 5 a digest of commitments it made up itself.
        seedCommitments: (recipient, honest) =>
          recipient === 5 ? { digest: new Uint8Array(32).fill(1) } : honest,
      },
    });
    expect(outcome.clientAborts.get(5)).toBeInstanceOf(LedgerMismatchError);
    expect(outcome.clientAborts.get(5)!.message).toMatch(/do not open the commitments/);
  });

  /** A sparse round's server and clients, through AdvertiseKeys. */
  function advertised() {
    const fixture = sparse();
    const server = new SecAggServer({ context: fixture.context, curve });
    const clients = fixture.identitySecretKeys.map(
      (identitySecretKey, i) =>
        new SecAggClient({
          context: fixture.context,
          index: i + 1,
          identitySecretKey,
          curve,
          random: fixture.random,
        }),
    );
    for (const client of clients) server.receiveAdvertiseKeys(client.advertiseKeys());
    server.closeAdvertiseKeys();
    return { server, clients, u1: server.participantSets().advertised };
  }

  it('a server with a reveal missing aborts rather than computing a seed without it', () => {
    const { server, clients, u1 } = advertised();
    const digest = server.seedCommitments();
    const reveals = clients.map((client) => client.revealSeed(digest, u1));
    for (const reveal of reveals.slice(1)) server.receiveSeedReveal(reveal);
    expect(() => server.closeSeedReveal()).toThrow(TooFewParticipantsError);
    expect(server.currentPhase).toBe('aborted');
    // A member handed the keys with that reveal left out refuses as well.
    const withoutOne: KeysBroadcast = { keys: [], seedReveals: reveals.slice(1) };
    expect(() => clients[3]!.shareKeys(withoutOne, u1)).toThrow(/U1 member\(s\) 1 are missing/);
  });

  it('a reveal that does not open its signed commitment is refused by the server', () => {
    const { server, clients, u1 } = advertised();
    const reveal = clients[0]!.revealSeed(server.seedCommitments(), u1);
    expect(() =>
      server.receiveSeedReveal({ ...reveal, contribution: new Uint8Array(32).fill(7) }),
    ).toThrow(/does not open the commitment in its signed AdvertiseKeys/);
    expect(() => server.receiveSeedReveal(reveal)).not.toThrow();
  });
});
