/**
 * Node options a bank's peer runs with. V8 fixes its heap sizes when the process starts, so
 * `veilsum member start` re-executes itself with them when they are missing
 * (`withMemberNodeOptions`): same process id (execve), same arguments and environment, before
 * anything is opened — an operator's `node cli/veilsum.ts member start …` gets them without
 * knowing, and one given on the command line or in NODE_OPTIONS is left as the operator set it.
 *
 * `--max-semi-space-size=4` (MiB): an upload hands the peer one small Buffer per TLS record
 * (2 500 per 40 MB), and at that allocation rate V8 grows its young generation to its 32 MiB
 * semi-space maximum (64 MiB of heap, kept after the upload). With 4 MiB, measured with
 * `npm run bench:member -- --client python` (load 7–32): the idle peer 150 MB instead of 174,
 * its peak after three 40 MB submissions and a SecAgg round 267–299 MB instead of 318–331, and
 * no more CPU per uploaded MB.
 *
 * `--expose-gc`: the peer runs a young-generation collection per 4 MiB of update bytes it moves
 * (young-garbage.ts), so the Buffers of a finished message are freed before the next ones are
 * allocated instead of piling up to V8's 64 MB external-memory limit (malloc's heap grew to hold
 * them and the peer kept most of it). Measured with `npm run bench:member -- --client python`,
 * with the freed keystream chunks and received messages (load 6–17, 11 runs each): the peak
 * 68–95 MB over the idle peer instead of 106–122, after the submissions 22–33 MB over it instead
 * of 46–78.
 */
export const MEMBER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=4', '--expose-gc'];

/**
 * A flag's name as V8 reads it: without its value or quotes, `_` and `-` alike
 * (`"--max_semi_space_size=16"` is `--max-semi-space-size`), its negation the same flag
 * (`--no-expose-gc` is the operator's say on `--expose-gc`).
 */
const flagName = (option: string): string =>
  option
    .replace(/^["']|["']$/g, '')
    .split('=')[0]!
    .replaceAll('_', '-')
    .replace(/^--no-/, '--');

/**
 * The options of MEMBER_NODE_OPTIONS whose flag neither `execArgv` nor NODE_OPTIONS sets, in any
 * spelling Node and V8 take (an operator's own value must not be overridden by ours, which
 * would come later on the command line and win).
 */
export function missingNodeOptions(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  const given = new Set(
    [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter(Boolean).map(flagName),
  );
  return MEMBER_NODE_OPTIONS.filter((option) => !given.has(flagName(option)));
}

/**
 * Re-executes this process (execve: the same pid, so a supervisor's signals still reach the
 * peer) with MEMBER_NODE_OPTIONS prepended when any is missing. Returns, running with V8's
 * defaults, where the platform has no execve (Windows) and when a Node supervisor forked the
 * peer with an IPC channel (its descriptor does not survive execve: the supervisor would see the
 * peer disconnect at once) — such a supervisor passes MEMBER_NODE_OPTIONS in `execArgv`.
 */
export function withMemberNodeOptions(): void {
  const missing = missingNodeOptions(process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length === 0 || typeof process.execve !== 'function') return;
  if (process.channel !== undefined) return;
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
    process.env,
  );
}
