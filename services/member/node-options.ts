/**
 * Node options a bank's peer should run with (`node --max-semi-space-size=4 cli/veilsum.ts member
 * start …`, or NODE_OPTIONS): V8 fixes its heap sizes when the process starts, so the peer cannot
 * set them itself.
 *
 * `--max-semi-space-size=4` (MiB): an upload hands the peer one small Buffer per TLS record
 * (2 500 per 40 MB), and at that allocation rate V8 grows its young generation to its 32 MiB
 * semi-space maximum (64 MiB of heap, kept after the upload). With 4 MiB, measured with
 * `npm run bench:member -- --client python` (load 7–32): the idle peer 150 MB instead of 174,
 * its peak after three 40 MB submissions and a SecAgg round 267–299 MB instead of 318–331, and
 * no more CPU per uploaded MB.
 */
export const MEMBER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=4'];
