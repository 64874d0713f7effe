import { describe, expect, it } from '@jest/globals';
import { MEMBER_NODE_OPTIONS, missingNodeOptions } from '../../services/member/node-options.ts';

describe("the bank peer's Node options", () => {
  it('are all missing from a plain `node cli/veilsum.ts member start`', () => {
    expect(missingNodeOptions([], undefined)).toEqual([...MEMBER_NODE_OPTIONS]);
    expect(missingNodeOptions(['--enable-source-maps'], '--trace-warnings')).toEqual([
      ...MEMBER_NODE_OPTIONS,
    ]);
  });

  it("an operator's own value, on the command line or in NODE_OPTIONS, is left as set (no re-exec)", () => {
    expect(missingNodeOptions(['--max-semi-space-size=16', '--expose-gc'], undefined)).toEqual([]);
    expect(missingNodeOptions([], '--inspect  --max-semi-space-size=2 --expose_gc')).toEqual([]);
    // Each option on its own: the one the operator set is left out, the other added.
    expect(missingNodeOptions(['--max-semi-space-size=16'], undefined)).toEqual(['--expose-gc']);
    // An operator who turns gc off keeps it off (the peer then runs no scavenges of its own).
    expect(missingNodeOptions([], '--no-expose-gc')).toEqual(['--max-semi-space-size=4']);
  });
});
