/**
 * What the agreement channel adds to a SecAgg round on the embedded ledger: the coordinator's
 * RoundOpened with its manifest and its three phase commits (U1, U2, U3), and a member's reads —
 * the RoundOpened record once and one read per phase. Usage:
 *   npm exec -- node benchmarks/secagg/ledger-latency.ts --clients 1000 --rounds 20
 * Prints one JSON object (median milliseconds per operation, over the rounds) as its last line.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from '../../crypto/random.ts';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { RoundManifest, RoundPhaseName } from '../../ledger/records.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '20' },
  },
});
const clients = Number(args.clients);
const rounds = Number(args.rounds);

const directory = mkdtempSync(join(tmpdir(), 'veilsum-ledger-bench-'));
const members = Array.from({ length: clients }, (_, i) => `member-${i + 1}`);
// Every block is signed by its writer: the coordinator's and the reading member's certificates.
const pki = await createDevPki(join(directory, 'pki'), members);
const database = new EmbeddedLedgerDatabase(
  join(directory, 'ledger.db'),
  readFileSync(pki.caCertificatePath),
);
const coordinator = new Ledger(
  database.as(ledgerWriter(pki.server.certificatePath, pki.server.privateKeyPath)),
);
const member = new Ledger(
  database.as(
    ledgerWriter(
      pki.members[members[0]!]!.certificatePath,
      pki.members[members[0]!]!.privateKeyPath,
    ),
  ),
);
await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
for (const id of members) await coordinator.registerMember(id, ['member']);
// The contract opens a round only when every roster member has a consent in force for its model.
for (const id of members)
  await new Ledger(
    database.as(ledgerWriter(pki.members[id]!.certificatePath, pki.members[id]!.privateKeyPath)),
  ).grantConsent(`${id}-bench`, `${id}-data`, 'bench', Date.now() + 86_400_000);

const random = seededRandom(7);
const manifest: RoundManifest = {
  mode: 'secagg',
  dimension: 100_000,
  identityKeys: members.map(() => Buffer.from(random(32)).toString('hex')),
  adversary: 'semi-honest',
  corruptionRate: 0.05,
  dropoutRate: 0.1,
  degree: 36,
  threshold: 19,
  minContributors: clients - Math.ceil(0.1 * clients),
  quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
  ckksKeySha256: null,
};
const all = members.map((_, i) => i + 1);
const sets: Record<RoundPhaseName, number[]> = {
  advertised: all,
  shared: all.slice(0, Math.ceil(0.95 * clients)),
  masked: all.slice(0, Math.ceil(0.9 * clients)),
};

const samples: Record<string, number[]> = {};
const time = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
  const start = performance.now();
  const result = await work();
  (samples[name] ??= []).push(performance.now() - start);
  return result;
};

for (let round = 1; round <= rounds; round++) {
  const roundId = `bench/round-${round}`;
  await time('coordinator: RoundOpened with manifest', () =>
    coordinator.openRound(roundId, 'bench', round, 'ab'.repeat(32), members, manifest),
  );
  await time('member: read RoundOpened', () => member.getRound(roundId));
  for (const phase of ['advertised', 'shared', 'masked'] as const) {
    await time(`coordinator: commit ${phase}`, () =>
      coordinator.commitRoundPhase(roundId, phase, sets[phase]),
    );
    await time(`member: read ${phase}`, () => member.getRoundPhase(roundId, phase));
  }
}
database.close();

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const perOperation = Object.fromEntries(
  Object.entries(samples).map(([name, values]) => [name, Number(median(values).toFixed(3))]),
);
const sum = (prefix: string) =>
  Number(
    Object.entries(perOperation)
      .filter(([name]) => name.startsWith(prefix))
      .reduce((total, [, ms]) => total + ms, 0)
      .toFixed(3),
  );
console.log(
  JSON.stringify({
    benchmark: 'secagg-ledger-latency',
    backend: 'embedded',
    clients,
    rounds,
    medianMs: perOperation,
    coordinatorMsPerRound: sum('coordinator'),
    memberMsPerRound: sum('member'),
    node: process.version,
  }),
);
