import { describe, expect, it } from '@jest/globals';

describe('runtime', () => {
  it('runs on Node 24 LTS (the npm-installed binary, not the machine’s Node 20)', () => {
    expect(process.versions.node.split('.')[0]).toBe('24');
  });
});
