import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bash,
  codeBlockUnder,
  freePort,
  logicalLines,
  shellBlockUnder,
} from '../support/readme-blocks.ts';

/**
 * The README's "A bank's peer and a data scientist in Python", run as written on a temporary
 * folder against real processes: the coordinator, one `veilsum member start` per bank, and one
 * Python process per bank running the section's ```python block through the real client. Both
 * blocks are extracted by heading. The rewrites, each needed to run them unattended:
 *
 *   - the setup it continues: the "Running a consortium" block up to its `round open` (`V=…`,
 *     `pki init`, the coordinator, every bank's consent), with that test's rewrites: `V=…` set as
 *     written inside the checkout, `pki init --listen` on a free port, the coordinator stopped;
 *   - `member init-config` and `member start … &` (bank-a's, "per bank"): run for every bank of
 *     `pki init --members`, each `--listen 127.0.0.1:7701` on a free port; the script waits until
 *     each peer accepts connections (failing if it exited) and stops them with SIGTERM at the end,
 *     recording each exit code;
 *   - `python3 -m venv .venv && … pip install ./clients/python …`: the venv that
 *     clients/python/ci/ensure-venv.sh makes (this checkout's package, scikit-learn) instead of a
 *     fresh install from the registry, activated by putting its bin/ first on PATH;
 *   - the ```python block: run once per bank, concurrently (a round of three needs all three), with
 *     its `bank, peer = "bank-a", "127.0.0.1:7701"` line naming that bank and its peer's port, and
 *     two lines appended that write the update it sent and the average it got to a JSON file.
 */
jest.setTimeout(120_000);

const REPOSITORY = process.cwd();
const README = join(REPOSITORY, 'README.md');
const HEADING = "A bank's peer and a data scientist in Python";

/** Bash: wait until 127.0.0.1:$1 accepts connections; fail if process $2 exits first. */
const WAIT_FOR_PORT = [
  'listening() {',
  '  for i in $(seq 1 120); do',
  `    "${process.execPath}" -e 'require("net").connect(+process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$1" && return 0`,
  '    kill -0 "$2" 2>/dev/null || { echo "process $2 exited before listening on $1"; return 1; }',
  '    sleep 0.5',
  '  done',
  '  echo "nothing listens on $1 after 60 s"; return 1',
  '}',
].join('\n');

/** The "Running a consortium" block up to (without) its first `round open`, rewritten to run here. */
function consortiumSetup(block: string, port: number): { lines: string[]; members: string[] } {
  const lines: string[] = [];
  let members: string[] = [];
  for (const line of logicalLines(block)) {
    const command = line.replace(/\s+#.*$/, '').trim();
    if (/\$V round open /.test(command)) return { lines, members };
    if (/^V=/.test(command)) {
      // Set as written inside the checkout, as a newcomer does; then used from the temporary folder.
      expect(command).toBe('V="$(npm prefix)/node_modules/.bin/node $(npm prefix)/cli/veilsum.ts"');
      lines.push(`cd ${REPOSITORY}`, command, 'cd - >/dev/null');
    } else if (/\$V pki init /.test(command)) {
      members = /--members (\S+)/.exec(command)![1]!.split(',');
      lines.push(`${command} --listen 127.0.0.1:${port}`);
    } else if (/\$V coordinator start .*&$/.test(command)) {
      lines.push(command, 'SERVICE=$!', `listening ${port} $SERVICE`);
    } else if (command !== '') lines.push(command);
  }
  throw new Error('no `$V round open` in the "Running a consortium" block');
}

/** This section's shell block, rewritten (see above); `peerPorts[i]` serves `members[i]`. */
function peerScript(block: string, members: string[], peerPorts: number[], venv: string): string[] {
  const lines: string[] = [];
  let sawInit = false;
  let sawStart = false;
  let sawVenv = false;
  const perBank = (command: string, each: (member: string, i: number) => string[]) => {
    expect(command).toContain('bank-a');
    members.forEach((member, i) =>
      lines.push(
        ...each(
          command
            .replaceAll('bank-a', member)
            .replace('127.0.0.1:7701', `127.0.0.1:${peerPorts[i]}`),
          i,
        ),
      ),
    );
  };
  for (const line of logicalLines(block)) {
    const command = line.replace(/\s+#.*$/, '').trim();
    if (/\$V member init-config /.test(command)) {
      sawInit = true;
      expect(command).toContain('--listen 127.0.0.1:7701');
      perBank(command, (rewritten) => [rewritten]);
    } else if (/\$V member start .*&$/.test(command)) {
      sawStart = true;
      perBank(command, (rewritten, i) => [
        rewritten,
        `PEER_${i}=$!`,
        `PEERS="$PEERS $!"`,
        `listening ${peerPorts[i]} $PEER_${i}`,
      ]);
    } else if (/pip install /.test(command)) {
      sawVenv = true;
      expect(command).toMatch(
        /^python3 -m venv \.venv && \. \.venv\/bin\/activate && pip install /,
      );
      expect(command).toContain('./clients/python');
      expect(command).toContain('scikit-learn');
      // Its bin/activate names the folder it was built in (ensure-venv.sh moves it into place),
      // so "activate" it as activate does: its bin first on PATH.
      lines.push(`export VIRTUAL_ENV="${venv}" PATH="${venv}/bin:$PATH"`);
    } else if (command !== '') lines.push(command);
  }
  expect({ sawInit, sawStart, sawVenv }).toEqual({ sawInit: true, sawStart: true, sawVenv: true });
  return lines;
}

/** The python block for one bank, writing what it sent and got to `result-<bank>.json`. */
function pythonFor(block: string, member: string, port: number): string {
  const line = /^bank, peer = "bank-a", "127\.0\.0\.1:7701".*$/m;
  expect(block).toMatch(line);
  return (
    block.replace(line, `bank, peer = "${member}", "127.0.0.1:${port}"`) +
    [
      'import json',
      'json.dump({"sent": {k: np.ravel(v).tolist() for k, v in update.items()}, "average": {k: np.ravel(v).tolist() for k, v in average.items()}, "bound": result.average_error_bound, "contributors": result.contributors}, open(f"result-{bank}.json", "w"))',
    ].join('\n') +
    '\n'
  );
}

interface BankResult {
  sent: Record<string, number[]>;
  average: Record<string, number[]>;
  bound: number;
  contributors: number;
}

describe(`README: ${HEADING}, as written`, () => {
  let directory: string;
  let venv: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-readme-peer-'));
    const made = spawnSync('bash', [join(REPOSITORY, 'clients/python/ci/ensure-venv.sh')], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (made.status !== 0) throw new Error(`ensure-venv.sh failed:\n${made.stderr}`);
    venv = made.stdout.trim();
  }, 600_000);
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('each bank runs its peer; each data scientist submits from Python and gets the average', async () => {
    const markdown = readFileSync(README, 'utf8');
    const { lines: setup, members } = consortiumSetup(
      shellBlockUnder(markdown, 'Running a consortium'),
      await freePort(),
    );
    const peerPorts = await Promise.all(members.map(() => freePort()));
    const python = codeBlockUnder(markdown, HEADING, 'python');
    members.forEach((member, i) =>
      writeFileSync(
        join(directory, `alice-${member}.py`),
        pythonFor(python, member, peerPorts[i]!),
      ),
    );
    const script = [
      'set -euo pipefail',
      'SERVICE=; PEERS=',
      "trap 'kill $PEERS $SERVICE 2>/dev/null || true' EXIT",
      WAIT_FOR_PORT,
      ...setup,
      ...peerScript(shellBlockUnder(markdown, HEADING), members, peerPorts, venv),
      'SCIENTISTS=',
      ...members.flatMap((member) => [
        `python alice-${member}.py > alice-${member}.out 2>&1 &`,
        'SCIENTISTS="$SCIENTISTS $!"',
      ]),
      'for s in $SCIENTISTS; do wait $s || { cat alice-*.out; exit 1; }; done',
      'cat alice-*.out',
      // Each peer stopped with SIGTERM, as the README says; its exit code recorded.
      ...members.flatMap((member, i) => [
        `kill $PEER_${i}; code=0; wait $PEER_${i} || code=$?; echo "peer ${member} exited $code"`,
      ]),
      'PEERS=; kill $SERVICE; wait $SERVICE || true; SERVICE=',
    ].join('\n');
    const { code, output } = await bash(script, directory, {
      ...process.env,
      PYTHONDONTWRITEBYTECODE: '1',
    });
    if (code !== 0) throw new Error(`the README's peer section failed (exit ${code}):\n${output}`);

    const results = members.map(
      (member) =>
        JSON.parse(readFileSync(join(directory, `result-${member}.json`), 'utf8')) as BankResult,
    );
    for (const result of results) {
      expect(result.contributors).toBe(members.length);
      expect(result.bound).toBeGreaterThan(0);
      expect(Object.keys(result.average)).toEqual(['coef', 'intercept']);
      for (const name of ['coef', 'intercept']) {
        const average = result.average[name]!;
        expect(average).toHaveLength(results[0]!.sent[name]!.length);
        average.forEach((value, j) => {
          const exact = results.reduce((sum, r) => sum + r.sent[name]![j]!, 0) / results.length;
          expect(Math.abs(value - exact)).toBeLessThanOrEqual(result.bound);
        });
      }
    }
    // The three banks trained on different data: the average is none of their updates.
    expect(results[0]!.sent.coef).not.toEqual(results[1]!.sent.coef);
    expect(output.match(/^3 banks; each weight within \S+$/gm)).toHaveLength(members.length);
    for (const member of members) expect(output).toContain(`peer ${member} exited 0`);
  });
});
