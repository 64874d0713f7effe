import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRunning, startProcess, stopRecorded } from '../../network/processes.ts';

/**
 * `fabric:down` stops what `fabric:up` started, by recorded PID — and nothing else: a PID that
 * the system has since given to another program is left alone.
 */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('fabric:down after its processes died and their PIDs were reused', () => {
  it('stops the recorded process that still runs and leaves a reused PID alone', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'veilsum-pids-'));
    // A process the network started (recorded) ...
    const ours = startProcess(directory, 'orderer', '/bin/sleep', ['30'], {
      PATH: '/bin:/usr/bin',
    });
    // ... and one it did not: its record names this PID but another executable, as when the
    // recorded process died and the PID went to an unrelated program.
    const stranger = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    writeFileSync(
      join(directory, 'pids', 'peer0.json'),
      JSON.stringify({ pid: stranger.pid, executable: '/opt/fabric/bin/peer' }),
    );
    try {
      expect(isRunning(directory, 'orderer')).toBe(true);
      expect(isRunning(directory, 'peer0')).toBe(false);
      expect(await stopRecorded(directory)).toEqual(['orderer']);
      expect(alive(ours.pid)).toBe(false);
      expect(alive(stranger.pid!)).toBe(true);
    } finally {
      stranger.kill('SIGKILL');
    }
  });
});
