import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CoordinatorConfig } from '../../services/coordinator/config.ts';
import type { KeyholderConfig } from '../../services/keyholder/config.ts';

const CLI = fileURLToPath(new URL('../veilsum.ts', import.meta.url));

/**
 * Starts `veilsum coordinator start` as its own process and resolves with its bound port (read
 * from its "started" log event, so the config's logLevel must be info or lower).
 */
export function startCoordinatorProcess(
  config: CoordinatorConfig,
  configPath: string,
  onLog: (line: string) => void,
): Promise<{ child: ChildProcess; port: number }> {
  return startServiceProcess('coordinator', config, configPath, onLog);
}

/**
 * `veilsum member start` (a bank's aggregation peer), likewise (it adds the Node options a peer
 * runs with itself: MEMBER_NODE_OPTIONS); `nodeArguments` go to its Node (e.g. `--cpu-prof` for a
 * benchmark).
 */
export function startMemberProcess(
  config: Record<string, unknown>,
  configPath: string,
  onLog: (line: string) => void,
  nodeArguments: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  return startServiceProcess('member', config, configPath, onLog, nodeArguments);
}

/** `veilsum keyholder start`, likewise. */
export function startKeyholderProcess(
  config: KeyholderConfig,
  configPath: string,
  onLog: (line: string) => void,
): Promise<{ child: ChildProcess; port: number }> {
  return startServiceProcess('keyholder', config, configPath, onLog);
}

async function startServiceProcess(
  service: 'coordinator' | 'keyholder' | 'member',
  config: CoordinatorConfig | KeyholderConfig | Record<string, unknown>,
  configPath: string,
  onLog: (line: string) => void,
  nodeArguments: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  writeFileSync(configPath, JSON.stringify(config));
  const child = spawn(
    process.execPath,
    [...nodeArguments, CLI, service, 'start', '--config', configPath],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let buffered = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the ${service} did not start within 30 s`));
    }, 30_000);
    child.stdout.on('data', (data: Buffer) => {
      buffered += data.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        onLog(line);
        if (line.includes('"event":"started"')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      }
    });
    child.stderr.on('data', (data: Buffer) => onLog(data.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${service} exited with code ${code}`));
    });
  });
  return { child, port };
}
