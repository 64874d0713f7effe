import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The network's long-running processes: started detached with their output in logs/<name>.log,
 * each recorded in pids/<name>.json (pid and executable), so `fabric:down` stops exactly these —
 * and not a process that later reused a recorded pid.
 */
export interface RecordedProcess {
  readonly pid: number;
  readonly executable: string;
}

/** A process this one started: `exited` settles once the system has reaped it. */
export interface StartedProcess extends RecordedProcess {
  readonly exited: Promise<void>;
}

export function startProcess(
  directory: string,
  name: string,
  executable: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): StartedProcess {
  mkdirSync(join(directory, 'logs'), { recursive: true });
  mkdirSync(join(directory, 'pids'), { recursive: true });
  const log = openSync(join(directory, 'logs', `${name}.log`), 'a');
  try {
    const child = spawn(executable, args, {
      env,
      cwd,
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${executable})`);
    // Node reaps the child when it exits (no zombie left), then emits 'exit'.
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.unref();
    const record = { pid: child.pid, executable };
    writeFileSync(join(directory, 'pids', `${name}.json`), JSON.stringify(record));
    return { ...record, exited };
  } finally {
    closeSync(log);
  }
}

function isOurs(record: RecordedProcess): boolean {
  try {
    const argv0 = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === record.executable;
  } catch {
    return false;
  }
}

export function isRunning(directory: string, name: string): boolean {
  const file = join(directory, 'pids', `${name}.json`);
  if (!existsSync(file)) return false;
  return isOurs(JSON.parse(readFileSync(file, 'utf8')) as RecordedProcess);
}

/**
 * Stops every recorded process (TERM, then KILL after 5 s; `signal` SIGKILL kills at once, as a
 * crash would); returns the names stopped.
 */
export async function stopRecorded(
  directory: string,
  only?: string,
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<string[]> {
  const pids = join(directory, 'pids');
  if (!existsSync(pids)) return [];
  const stopped: string[] = [];
  for (const file of readdirSync(pids).filter((f) => f.endsWith('.json'))) {
    const name = file.slice(0, -'.json'.length);
    if (only !== undefined && name !== only) continue;
    const record = JSON.parse(readFileSync(join(pids, file), 'utf8')) as RecordedProcess;
    if (isOurs(record)) {
      process.kill(record.pid, signal);
      for (let i = 0; i < 50 && isOurs(record); i++) await sleep(100);
      if (isOurs(record)) process.kill(record.pid, 'SIGKILL');
      for (let i = 0; i < 20 && isOurs(record); i++) await sleep(50);
      stopped.push(name);
    }
    rmSync(join(pids, file), { force: true });
  }
  return stopped;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(
  what: string | (() => string),
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const attempts = Math.ceil(timeoutMs / intervalMs);
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await sleep(intervalMs);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${typeof what === 'string' ? what : what()}`,
  );
}

/** Runs a Fabric CLI to completion; the error names the command and carries its stderr. */
export function run(
  executable: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      executable,
      args,
      { env, cwd, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) {
          const name = executable.split('/').at(-1);
          reject(
            new Error(
              `${name} ${args.slice(0, 3).join(' ')} failed: ${stderr.trim() || error.message}`,
            ),
          );
        } else resolve(stdout);
      },
    );
  });
}
