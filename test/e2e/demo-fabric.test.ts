import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { portOpen } from '../../network/processes.ts';

/**
 * `veilsum demo --ledger fabric`: the same demo with every party on a real Fabric network the
 * demo starts (five bank peers, the operator organisation) and stops. If Fabric cannot be built
 * here the demo fails and so does this test, with the reason.
 */
const PORT_BASE = Number(process.env.VEILSUM_FABRIC_TEST_PORT_BASE ?? 28050) + 300;

function demo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['cli/veilsum.ts', 'demo', '--json', '--ledger', 'fabric', ...args],
      {
        env: { ...process.env, VEILSUM_FABRIC_PORT_BASE: String(PORT_BASE) },
        timeout: 600_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr.slice(-4000)}`)) : resolve(stdout),
    );
  });
}

describe('veilsum demo --ledger fabric', () => {
  it('runs rounds with every party on Fabric and audits through another bank’s peer', async () => {
    const output = await demo(['--rounds', '2', '--dropout', '0']);
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const rounds = lines.filter((line) => line.event === undefined) as {
      aborted: string | null;
      included: string[];
      aggregateHash: string | null;
    }[];
    expect(rounds).toHaveLength(2);
    expect(rounds.some((round) => round.aborted === null)).toBe(true);
    const audit = lines.find((line) => line.event === 'audit') as unknown as {
      contributions: { member: string; consent: string }[];
      inclusion: { verified: boolean };
      ledger: string;
      chain?: unknown;
      fabric: { blocks: number; readThrough: string; writtenThrough: string };
    };
    expect(audit.contributions.length).toBeGreaterThan(0);
    expect(audit.inclusion.verified).toBe(true);
    expect(audit.chain).toBeUndefined();
    expect(audit.ledger).toMatch(/^Fabric channel veilsum via peer0\.eastlake/);
    expect(audit.fabric.readThrough).not.toBe(audit.fabric.writtenThrough);
    expect(audit.fabric.blocks).toBeGreaterThan(5);
    // The demo stopped its network: the orderer and the first peer no longer listen.
    expect(await portOpen(PORT_BASE)).toBe(false);
    expect(await portOpen(PORT_BASE + 10)).toBe(false);
  }, 600_000);
});
