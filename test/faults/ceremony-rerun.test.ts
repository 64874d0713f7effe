import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKeyholderProcess } from '../../cli/demo/processes.ts';
import type { RunningKeyholder } from '../../cli/demo/ckks-services.ts';
import { killKeyholder } from '../../cli/demo/ckks-services.ts';
import { KeyholderClient } from '../../services/keyholder/keyholder-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';

/**
 * Fault: re-running the key ceremony destroyed the key. The sealed share was written to
 * `<ceremonyId>.sealed` and the default id was the date, so a second ceremony the same day
 * replaced the first key, and after a restart the keyholders no longer held the key that open
 * rounds encrypt under. Here three real keyholder processes run `veilsum keys ceremony` twice
 * with the default id, are asked to reuse an id, and are SIGKILLed and restarted.
 */
let consortium: Consortium;
const running = new Map<string, RunningKeyholder>();

async function startKeyholder(id: string): Promise<RunningKeyholder> {
  const logs: string[] = [];
  const { child, port } = await startKeyholderProcess(
    consortium.local.keyholderConfig(id),
    join(consortium.directory, `${id}.json`),
    (line) => logs.push(line),
  );
  const keyholder = { id, child, port, logs };
  running.set(id, keyholder);
  return keyholder;
}

/** `veilsum keys ceremony` as its own process. */
function ceremony(
  extra: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const keyholders = consortium.keyholders
    .map((id) => `${id}=127.0.0.1:${running.get(id)!.port}`)
    .join(',');
  const child = spawn(
    process.execPath,
    [
      'cli/veilsum.ts',
      'keys',
      'ceremony',
      '--profile',
      consortium.profilePath(ADMIN, 1),
      '--keyholders',
      keyholders,
      '--threshold',
      '2',
      '--json',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

function startedKeys(keyholder: RunningKeyholder): string[] {
  const started = keyholder.logs
    .filter((line) => line.includes('"event":"started"'))
    .map((line) => JSON.parse(line) as { keys: string[] });
  return started.at(-1)!.keys;
}

interface CeremonySummary {
  ceremonyId: string;
  keySha256: string;
}

let first: CeremonySummary;
let second: CeremonySummary;

beforeAll(async () => {
  consortium = await createConsortium(1, 'cer', { keyholders: 3, ledger: true });
  // Keyholders attest each collective key on the ledger: they need the keyholder role.
  await consortium.local.registerKeyholders();
  for (const id of consortium.keyholders) await startKeyholder(id);
}, 60_000);

afterAll(async () => {
  for (const keyholder of running.values()) await killKeyholder(keyholder);
});

describe('fault: a second key ceremony must not destroy the first key', () => {
  it('two ceremonies with the default id get distinct ids and distinct keys', async () => {
    const keyFile1 = join(consortium.directory, 'key-1.json');
    const keyFile2 = join(consortium.directory, 'key-2.json');
    const run1 = await ceremony(['--out', keyFile1]);
    expect(run1.stderr).toBe('');
    expect(run1.code).toBe(0);
    const run2 = await ceremony(['--out', keyFile2]);
    expect(run2.code).toBe(0);
    first = JSON.parse(run1.stdout) as CeremonySummary;
    second = JSON.parse(run2.stdout) as CeremonySummary;
    expect(second.ceremonyId).not.toBe(first.ceremonyId);
    expect(second.keySha256).not.toBe(first.keySha256);
    for (const id of consortium.keyholders) {
      const files = readdirSync(join(consortium.directory, `keyholder-${id}`, 'keys'));
      expect(files.sort()).toEqual(
        [`${first.ceremonyId}.sealed`, `${second.ceremonyId}.sealed`].sort(),
      );
    }
  }, 120_000);

  it('a ceremony reusing an id is refused with ALREADY_EXISTS and the key stays', async () => {
    const sealed = join(
      consortium.directory,
      `keyholder-${consortium.keyholders[0]!}`,
      'keys',
      `${first.ceremonyId}.sealed`,
    );
    const before = readFileSync(sealed);
    const reuse = await ceremony([
      '--ceremony',
      first.ceremonyId,
      '--out',
      join(consortium.directory, 'key-3.json'),
    ]);
    expect(reuse.code).not.toBe(0);
    expect(reuse.stderr).toMatch(/ALREADY_EXISTS/);
    expect(reuse.stderr).toMatch(
      new RegExp(`already made a key in ceremony ${first.ceremonyId}.*needs a new id`),
    );
    expect(readFileSync(sealed).equals(before)).toBe(true);
    expect(existsSync(join(consortium.directory, 'key-3.json'))).toBe(false);
  }, 60_000);

  it('a ceremony writing over an existing key file is refused before any keyholder is asked', async () => {
    const keyFile1 = join(consortium.directory, 'key-1.json');
    const before = readFileSync(keyFile1, 'utf8');
    const overwrite = await ceremony(['--out', keyFile1]);
    expect(overwrite.code).not.toBe(0);
    expect(overwrite.stderr).toMatch(
      new RegExp(`already holds the key ${first.keySha256} of ceremony ${first.ceremonyId}`),
    );
    expect(readFileSync(keyFile1, 'utf8')).toBe(before);
    for (const id of consortium.keyholders)
      expect(readdirSync(join(consortium.directory, `keyholder-${id}`, 'keys'))).toHaveLength(2);
  }, 60_000);

  it('after a SIGKILL and restart every keyholder still holds and serves the first key', async () => {
    for (const keyholder of [...running.values()]) await killKeyholder(keyholder);
    for (const id of consortium.keyholders) await startKeyholder(id);
    for (const [i, id] of consortium.keyholders.entries()) {
      const keyholder = running.get(id)!;
      expect(startedKeys(keyholder).sort()).toEqual([first.keySha256, second.keySha256].sort());
      const client = KeyholderClient.connect({
        ...consortium.local.profile(ADMIN, keyholder.port),
      });
      try {
        const info = await client.getKey(Buffer.from(first.keySha256, 'hex'));
        expect(Buffer.from(info.keySha256).toString('hex')).toBe(first.keySha256);
        expect(info.ceremonyId).toBe(first.ceremonyId);
        expect(info.index).toBe(i + 1);
      } finally {
        client.close();
      }
    }
  }, 90_000);

  it('a key goes only when retired explicitly, and its sealed file is kept', async () => {
    const id = consortium.keyholders[0]!;
    const retire = spawn(
      process.execPath,
      [
        'cli/veilsum.ts',
        'keys',
        'retire',
        '--config',
        join(consortium.directory, `${id}.json`),
        '--ceremony',
        first.ceremonyId,
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(await new Promise((resolve) => retire.on('exit', resolve))).toBe(0);
    await killKeyholder(running.get(id)!);
    const restarted = await startKeyholder(id);
    expect(startedKeys(restarted)).toEqual([second.keySha256]);
    expect(
      existsSync(
        join(
          consortium.directory,
          `keyholder-${id}`,
          'keys',
          'retired',
          `${first.ceremonyId}.sealed`,
        ),
      ),
    ).toBe(true);
  }, 60_000);
});
