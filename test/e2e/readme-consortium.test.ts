import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bash, freePort, logicalLines, shellBlockUnder } from '../support/readme-blocks.ts';

/**
 * The README's "Running a consortium" walk-through, run as written on a temporary folder: the
 * shell block under that heading is extracted (by heading, so the test follows the section when
 * the README moves into docs/) and run by bash with only these rewrites, each needed to run it
 * unattended:
 *
 *   - `V=…`: run as written inside the checkout, the rest from the temporary folder (so `$V`
 *     is shown to work from any folder);
 *   - `pki init`: `--listen` on a free 127.0.0.1 port instead of the fixed 7443;
 *   - the backgrounded `coordinator start … &`: stopped when the script ends, and waited for;
 *   - `submit … # per bank`: run for every bank of the roster, concurrently (one member cannot
 *     complete a round of three), with an `update.npy` the test writes;
 *   - `audit lineage --model <sha256> [--mermaid | --json]`: the hash of a model version recorded
 *     with `veilsum model record` (added before it when the README does not show it), `--json`.
 */
jest.setTimeout(240_000);

const REPOSITORY = process.cwd();
const README = join(REPOSITORY, 'README.md');

/** NPY 1.0, float32, C order. */
function npy(values: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${values.length},), }`;
  header = header.padEnd(header.length + ((64 - ((11 + header.length) % 64)) % 64), ' ') + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]);
}

/** The walk-through as the script bash runs (see the rewrites above). */
function consortiumScript(block: string, port: number, modelHash: string): string {
  const script = ['set -euo pipefail', 'trap \'[ -n "${SERVICE:-}" ] && kill $SERVICE\' EXIT'];
  let members: string[] = [];
  let recorded = false;
  for (const line of logicalLines(block)) {
    const command = line.replace(/\s+#.*$/, '').trim();
    if (/^V=/.test(command)) {
      // Run as written, inside the checkout; every later command runs from the temporary folder.
      expect(command).toBe('V="$(npm prefix)/node_modules/.bin/node $(npm prefix)/cli/veilsum.ts"');
      script.push(`cd ${REPOSITORY}`, command, 'cd - >/dev/null', 'echo "V=$V" >&2');
    } else if (/\$V pki init /.test(command)) {
      script.push(`${command} --listen 127.0.0.1:${port}`);
    } else if (/\$V coordinator start .*&$/.test(command)) {
      script.push(command, 'SERVICE=$!');
      script.push(
        'for i in $(seq 1 120); do $V round list --profile .veilsum/profile-veilsum-admin.json >/dev/null 2>&1 && break; sleep 0.5; done',
      );
    } else if (/\$V round open /.test(command)) {
      members = /--members (\S+)/.exec(command)![1]!.split(',');
      script.push(command);
    } else if (/\$V submit /.test(command) && line.includes('per bank')) {
      const profile = /--profile (\S+)/.exec(command)![1]!;
      const bank = /profile-([^/]+)\.json$/.exec(profile)![1]!;
      script.push('SUBMITS=');
      for (const member of members)
        script.push(
          `${command.replace(`profile-${bank}.json`, `profile-${member}.json`)} &`,
          'SUBMITS="$SUBMITS $!"',
        );
      script.push('for submitted in $SUBMITS; do wait $submitted; done');
    } else if (/\$V model record /.test(command)) {
      recorded = true;
      script.push(command.replace('<sha256>', modelHash));
    } else if (/\$V audit lineage /.test(command)) {
      if (!recorded)
        script.push(
          `$V model record --profile .veilsum/profile-veilsum-admin.json --round fraud/round-1 --model-hash ${modelHash}`,
        );
      script.push(command.replace('<sha256>', modelHash).replace('[--mermaid | --json]', '--json'));
    } else if (command !== '') script.push(command);
  }
  script.push('kill $SERVICE; wait $SERVICE || true; SERVICE=');
  return script.join('\n') + '\n';
}

/**
 * The CKKS section's key commands (pki init with keyholders, the keyholders, the ceremony, a
 * retirement), with the keyholders on free ports. The section's round commands (a 10^6-value CKKS
 * round) are what test/e2e/ckks-round.test.ts runs; this part shows a fresh consortium's
 * keyholders hold the ledger role the ceremony needs.
 */
function ckksKeyScript(block: string, port: number, keyholderPorts: number[]): string {
  const node = process.execPath;
  const script = [
    'set -euo pipefail',
    'KEYHOLDERS=',
    "trap 'for k in $KEYHOLDERS; do kill $k; done' EXIT",
    `V="${node} ${join(REPOSITORY, 'cli/veilsum.ts')}"`,
  ];
  let keyholders: string[] = [];
  let folder = '.veilsum';
  for (const line of logicalLines(block)) {
    const command = line.replace(/\s+#.*$/, '').trim();
    if (/\$V pki init /.test(command)) {
      keyholders = /--keyholders (\S+)/.exec(command)![1]!.split(',');
      folder = /--dir (\S+)/.exec(command)?.[1] ?? folder;
      script.push(`${command} --listen 127.0.0.1:${port}`);
      keyholders.forEach((id, i) =>
        script.push(
          `${node} -e 'const f="${folder}/keyholder-${id}.json";const c=JSON.parse(require("fs").readFileSync(f));c.listen="127.0.0.1:${keyholderPorts[i]}";require("fs").writeFileSync(f,JSON.stringify(c))'`,
        ),
      );
    } else if (/\$V keyholder start .*&$/.test(command)) {
      for (const [i, id] of keyholders.entries()) {
        script.push(
          `${command.replace('keyholder-kh-1.json', `keyholder-${id}.json`)}`,
          'KEYHOLDERS="$KEYHOLDERS $!"',
          `for i in $(seq 1 120); do ${node} -e 'require("net").connect(${keyholderPorts[i]},"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' && break; sleep 0.5; done`,
        );
      }
    } else if (/\$V keys ceremony /.test(command)) {
      script.push(
        keyholders.reduce(
          (rewritten, _id, i) =>
            rewritten.replace(`127.0.0.1:${7601 + i}`, `127.0.0.1:${keyholderPorts[i]}`),
          command,
        ),
      );
    } else if (/\$V keys retire /.test(command)) {
      script.push(
        `CEREMONY=$(${node} -e 'console.log(JSON.parse(require("fs").readFileSync("${folder}/collective-key.json")).ceremonyId)')`,
        command.replace('<id>', '$CEREMONY'),
      );
      break;
    }
  }
  return script.join('\n') + '\n';
}

describe('README: Running a consortium, as written', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-readme-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('runs the walk-through: consents, a 3-bank SecAgg round, revocation, audits, lineage, chain', async () => {
    const block = shellBlockUnder(readFileSync(README, 'utf8'), 'Running a consortium');
    const dimension = Number(/--dim (\d+)/.exec(block)![1]);
    writeFileSync(
      join(directory, 'update.npy'),
      npy(Float32Array.from({ length: dimension }, (_, i) => Math.sin(i) / 4)),
    );
    const modelHash = createHash('sha256').update('fraud model after round 1').digest('hex');
    const script = consortiumScript(block, await freePort(), modelHash);
    const { code, output } = await bash(script, directory);
    if (code !== 0) throw new Error(`the walk-through failed (exit ${code}):\n${output}`);
    // `V` set in the checkout names the checkout's Node 24 and CLI by absolute paths.
    expect(output).toContain(
      `V=${REPOSITORY}/node_modules/.bin/node ${REPOSITORY}/cli/veilsum.ts\n`,
    );
    // Every bank's consent, the round, and what the audits answer.
    expect(output).toMatch(/granted bank-a-c1: bank-a\/bank-a-cards for fraud/);
    expect(output).toMatch(/revoked bank-a-c1 at /);
    expect(output).toMatch(/bank-a-c1 {2}bank-a-cards {2}for fraud {2}granted \S+ {2}revoked /);
    expect(output).toMatch(/included: upload [0-9a-f]{64} is under the ledger's root/);
    const lineage = JSON.parse(
      output.split('\n').find((line) => line.startsWith('{"modelVersion"'))!,
    ) as { contributions: { memberId: string }[] };
    expect(lineage.contributions.map((c) => c.memberId)).toEqual(['bank-a', 'bank-b', 'bank-c']);
    expect(output).toMatch(/chain intact: \d+ blocks, each signed by its writer/);
  });

  it('CKKS: a fresh consortium’s keyholders run the key ceremony as written (they hold the keyholder role)', async () => {
    const block = shellBlockUnder(readFileSync(README, 'utf8'), 'CKKS rounds');
    const ckksDirectory = join(directory, 'ckks');
    mkdirSync(ckksDirectory);
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const { code, output } = await bash(
      ckksKeyScript(block, ports[0]!, ports.slice(1)),
      ckksDirectory,
    );
    if (code !== 0) throw new Error(`the CKKS key commands failed (exit ${code}):\n${output}`);
    expect(output).toMatch(
      /collective key [0-9a-f]{64} \(2 of 3: kh-1, kh-2, kh-3\) written to \.veilsum\/(ckks\/)?collective-key\.json/,
    );
    expect(output).toMatch(/key of ceremony \S+ retired to /);
  });
});
