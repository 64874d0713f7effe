import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { type LedgerWriter, signBlockHash } from '../../ledger/embedded/block-signature.ts';
import { blockHash, GENESIS_HASH, openDatabase } from '../../ledger/embedded/block.ts';
import { executeTransaction, ReplayState } from '../../ledger/embedded/contract-replay.ts';
import type { RoundManifest } from '../../ledger/records.ts';

/**
 * Writes a long, valid embedded ledger fast — each transaction run through the contract and
 * signed by its writer, as the ledger would, but inserted in bulk — so opening it measures the
 * verification (hashes, signatures, contract replay), not how it was written. The workload is a
 * consortium's: members, consents, then rounds (open, U1–U3, close, model version).
 */
export async function writeChain(
  path: string,
  blocks: number,
  coordinator: LedgerWriter,
  banks: LedgerWriter[],
): Promise<void> {
  const db: Database.Database = openDatabase(path);
  const state = new ReplayState();
  const head = { number: 0, hash: GENESIS_HASH };
  let timestamp = Date.now();
  const insertBlock = db.prepare(
    'INSERT INTO blocks (number, previous_hash, timestamp, caller, certificate, fn, args, writes, events, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const upsert = db.prepare(
    'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  const submit = async (writer: LedgerWriter, fn: string, args: unknown[]) => {
    if (head.number >= blocks) return;
    timestamp += 1;
    const outcome = await executeTransaction(state, {
      previousHash: head.hash,
      timestamp,
      caller: writer.organisation,
      fn,
      args,
    });
    if ('refused' in outcome) throw outcome.refused;
    const unsigned = {
      number: head.number + 1,
      previousHash: head.hash,
      timestamp,
      caller: writer.organisation,
      certificate: writer.certificatePem,
      fn,
      args,
      writes: outcome.writes,
      events: outcome.events,
    };
    const hash = blockHash(unsigned);
    insertBlock.run(
      unsigned.number,
      unsigned.previousHash,
      timestamp,
      unsigned.caller,
      unsigned.certificate,
      fn,
      JSON.stringify(args),
      JSON.stringify(unsigned.writes),
      JSON.stringify(unsigned.events),
      hash,
      signBlockHash(writer, hash),
    );
    for (const [key, value] of outcome.writes) state.set(key, value, unsigned.number);
    head.number = unsigned.number;
    head.hash = hash;
  };
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const roster = banks.map((bank) => bank.organisation);
  const manifest: RoundManifest = {
    mode: 'secagg',
    dimension: 1000,
    identityKeys: roster.map((id) => sha(`identity/${id}`)),
    adversary: 'semi-malicious',
    corruptionRate: 0,
    dropoutRate: 0,
    degree: roster.length - 1,
    threshold: roster.length - 1,
    minContributors: 2,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    ckksKeySha256: null,
  };
  db.exec('BEGIN');
  await submit(coordinator, 'registerMember', [
    coordinator.organisation,
    ['coordinator', 'auditor'],
  ]);
  for (const bank of banks)
    await submit(coordinator, 'registerMember', [bank.organisation, ['member']]);
  for (const [i, bank] of banks.entries()) {
    await submit(bank, 'grantConsent', [
      `${bank.organisation}-c0`,
      'cards',
      'chain-model',
      timestamp + 10 * 365 * 86_400_000,
    ]);
    await submit(bank, 'registerIdentityKey', [manifest.identityKeys[i]]);
  }
  for (let round = 1; head.number < blocks; round++) {
    const roundId = `chain-model/round-${round}`;
    const all = roster.map((_, i) => i + 1);
    await submit(coordinator, 'openRound', [
      roundId,
      'chain-model',
      round,
      sha(roundId),
      roster,
      manifest,
    ]);
    for (const phase of ['advertised', 'shared', 'masked'])
      await submit(coordinator, 'commitRoundPhase', [roundId, phase, all]);
    await submit(coordinator, 'closeRound', [
      roundId,
      roster,
      sha(`${roundId}/uploads`),
      sha(`${roundId}/aggregate`),
      0,
      [],
    ]);
    await submit(coordinator, 'recordModelVersion', [sha(`${roundId}/model`), roundId]);
    if (round % 500 === 0) {
      db.exec('COMMIT');
      db.exec('BEGIN');
    }
  }
  const rows = db.prepare('SELECT COUNT(*) AS n FROM state').get() as { n: number };
  if (rows.n !== 0) throw new Error('writeChain needs a new file');
  for (const [key, { value }] of state.entries()) upsert.run(key, value);
  db.exec('COMMIT');
  db.close();
}
