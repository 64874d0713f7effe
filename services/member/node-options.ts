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
 */
export const MEMBER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=4'];

/** The options of MEMBER_NODE_OPTIONS whose flag neither `execArgv` nor NODE_OPTIONS sets. */
export function missingNodeOptions(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(
    (option) => option.split('=')[0]!,
  );
  return MEMBER_NODE_OPTIONS.filter((option) => !given.includes(option.split('=')[0]!));
}

/**
 * Re-executes this process (execve: the same pid, so a supervisor's signals still reach the
 * peer) with MEMBER_NODE_OPTIONS prepended when any is missing; returns when none is, or where
 * the platform has no execve (Windows), where the peer runs with V8's defaults.
 */
export function withMemberNodeOptions(): void {
  const missing = missingNodeOptions(process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length === 0 || typeof process.execve !== 'function') return;
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
    process.env,
  );
}
