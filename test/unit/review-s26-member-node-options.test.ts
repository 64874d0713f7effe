import { afterAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MEMBER_NODE_OPTIONS, missingNodeOptions } from '../../services/member/node-options.ts';

/**
 * Attacker review of `veilsum member start` re-executing itself (services/member/node-options.ts).
 * The promise: same pid, same arguments and environment, and an operator's own
 * --max-semi-space-size "on the command line or in NODE_OPTIONS is left as the operator set it".
 */
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe("review s26: the peer's re-execution with its Node options", () => {
  it("leaves an operator's semi-space size alone in every spelling Node and V8 take", () => {
    // V8 takes `_` for `-` in a flag name, and Node's NODE_OPTIONS takes quoted arguments. The
    // re-exec puts its own `--max-semi-space-size=4` on the COMMAND LINE, which Node reads after
    // NODE_OPTIONS: V8 keeps the last value, so the operator's 16 MiB silently becomes 4.
    const others = MEMBER_NODE_OPTIONS.filter((option) => !option.startsWith('--max-semi'));
    expect(missingNodeOptions([], '--max_semi_space_size=16')).toEqual(others);
    expect(missingNodeOptions([], '"--max-semi-space-size=16"')).toEqual(others);
    expect(missingNodeOptions(['--max_semi_space_size=16'], undefined)).toEqual(others);
  });

  it('keeps the IPC channel of a peer forked by a Node supervisor', async () => {
    // A peer forked with an IPC channel: Node takes NODE_CHANNEL_FD out of process.env when it
    // opens the channel and the channel's descriptor is close-on-exec, so the re-executed
    // process (execve with process.env) has no channel and the parent sees 'disconnect' at once
    // (a parent's later send() throws ERR_IPC_CHANNEL_CLOSED).
    const script = fileURLToPath(new URL('../support/review-s26-ipc-peer.ts', import.meta.url));
    const child = fork(script, [], {
      execArgv: [],
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const messages: unknown[] = [];
    child.on('message', (message) => messages.push(message));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, messages, stderr }).toEqual({ code: 0, messages: ['ready'], stderr: '' });
    // The child had something to re-execute for: its own command line lacked the options.
    expect(missingNodeOptions([], '')).toEqual([...MEMBER_NODE_OPTIONS]);
  }, 30_000);
});
