import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRunning, startProcess, stopRecorded } from '../../network/processes.ts';

/**
 * `fabric:down` stops what `fabric:up` started, by recorded PID — and nothing else: a PID that
 * the system has since given to another program is left alone.
 *
 * Liveness is asserted only once each process has been reaped: a killed child stays a zombie
 * (kill(pid, 0) still succeeds) until its parent collects it, which under load can come after
 * stopRecorded returned.
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
    const strangerExited = new Promise((resolve) => stranger.once('exit', resolve));
    writeFileSync(
      join(directory, 'pids', 'peer0.json'),
      JSON.stringify({ pid: stranger.pid, executable: '/opt/fabric/bin/peer' }),
    );
    try {
      expect(isRunning(directory, 'orderer')).toBe(true);
      expect(isRunning(directory, 'peer0')).toBe(false);
      expect(await stopRecorded(directory)).toEqual(['orderer']);
      // Reaped: the recorded process is gone, not a zombie that kill(pid, 0) still finds.
      await ours.exited;
      expect(alive(ours.pid)).toBe(false);
      expect(alive(stranger.pid!)).toBe(true);
      expect(stranger.exitCode).toBeNull();
      expect(stranger.signalCode).toBeNull();
    } finally {
      stranger.kill('SIGKILL');
      await strangerExited;
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
