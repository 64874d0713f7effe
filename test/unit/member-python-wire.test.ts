import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';
import { decodeSubmitUpdateRequest } from '../../services/member/chunk-deserializer.ts';

/**
 * Attack surface (the Python client sending wrong wire bytes): clients/python's `_chunk_message`
 * hand-encodes SubmitUpdateRequest{chunk} from a memoryview. The shipped function (taken from
 * client.py by its source, run by a plain python3 — no grpc/protobuf here) is fed the views
 * FlatUpdate.chunk_views makes (a float32 array's bytes cast to 'B', sliced) at varint edges,
 * and both of the peer's decoders must read back exactly those bytes.
 */
const dir = mkdtempSync(join(tmpdir(), 'veilsum-pywire-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LENGTHS = [0, 4, 124, 128, 16_380, 16_384, 2_097_148, 2_097_152, 4 * 1024 * 1024];

const script = `
import ast, sys, array
src = open(sys.argv[1]).read()
tree = ast.parse(src)
keep = [n for n in tree.body if (isinstance(n, ast.Assign) and any(getattr(t, 'id', '') == '_CHUNK_TAG' for t in n.targets)) or (isinstance(n, ast.FunctionDef) and n.name == '_chunk_message')]
ns = {}
exec(compile(ast.Module(body=keep, type_ignores=[]), 'client.py', 'exec'), ns)
values = array.array('f', [float(i % 1000) / 7 for i in range(${(4 * 1024 * 1024) / 4 + 16}) ])
payload = memoryview(values).cast('B')
for length in [${LENGTHS.join(',')}]:
    # chunk_views slices the 'B' payload; take it from an odd float offset too
    view = payload[4:4 + length]
    open(sys.argv[2] + '/%d.bin' % length, 'wb').write(ns['_chunk_message'](view))
    open(sys.argv[2] + '/%d.raw' % length, 'wb').write(bytes(view))
`;

describe("the Python client's hand-encoded chunk messages", () => {
  it('decode, in both of the peer decoders, to exactly the bytes of the view', () => {
    execFileSync('python3', [
      '-c',
      script,
      join(process.cwd(), 'clients/python/src/veilsum/client.py'),
      dir,
    ]);
    for (const length of LENGTHS) {
      const wire = readFileSync(join(dir, `${length}.bin`));
      const raw = readFileSync(join(dir, `${length}.raw`));
      expect(raw.length).toBe(length);
      for (const decode of [
        decodeSubmitUpdateRequest,
        (b: Buffer) => SubmitUpdateRequest.decode(b),
      ]) {
        const part = decode(wire).part;
        expect(part?.$case).toBe('chunk');
        expect(Buffer.from(part!.value as Uint8Array).equals(raw)).toBe(true);
      }
    }
  });
});
