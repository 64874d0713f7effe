import { MemberServiceService, SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';
import { freeBuffer } from './young-garbage.ts';

/** SubmitUpdateRequest.chunk's tag: field 2, wire type 2 (length-delimited). */
const CHUNK_TAG = (2 << 3) | 2;

/**
 * SubmitUpdate's request decoder. A message that is exactly one `chunk` field (what every client
 * sends after the header) is answered with a view of the received buffer instead of the generated
 * decoder's copy of the bytes: 4 MiB per message allocated and copied, then collected, was a
 * tenth of the peer's CPU per uploaded MB (garbage collection included). Anything else — the
 * header, repeated or unknown fields — goes to the generated decoder, so the result is the same
 * message either way.
 */
export function decodeSubmitUpdateRequest(buffer: Buffer): SubmitUpdateRequest {
  if (buffer.length > 0 && buffer[0] === CHUNK_TAG) {
    let length = 0;
    let at = 1;
    // A length below 2^35 fits 5 varint bytes; a message is at most a few MiB.
    for (let shift = 0; at < buffer.length && shift < 35; shift += 7) {
      const byte = buffer[at++]!;
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (at + length === buffer.length)
          return { part: { $case: 'chunk', value: buffer.subarray(at) } };
        break;
      }
    }
  }
  return SubmitUpdateRequest.decode(buffer);
}

/** Bytes a received message's buffer holds besides its chunk: the gRPC frame's 5, the tag, the length. */
const MESSAGE_OVERHEAD_BYTES = 16;

/**
 * Frees the memory of a chunk `decodeSubmitUpdateRequest` returned, once the caller is done with
 * it (staged and hashed), instead of at the next garbage collection: its ArrayBuffer is detached
 * (`transfer(0)`), after which the chunk reads as empty. Only a buffer that holds nothing but
 * this message is detached (grpc-js joins each message into a buffer of its own; a chunk of the
 * generated decoder, a pooled or shared buffer is left alone), and only where `transfer` exists
 * (Node ≥ 21). A 4 MiB message otherwise lives until V8's next full collection (it outlives the
 * scavenges of the DATA frames it is joined from), and 40 MB of them made malloc's heap grow by
 * as much, most of which the peer then kept.
 */
export function releaseChunk(chunk: Uint8Array): void {
  if (
    chunk.byteLength >= 65536 &&
    chunk.buffer.byteLength - chunk.byteLength <= MESSAGE_OVERHEAD_BYTES
  )
    freeBuffer(chunk.buffer);
}

/** The MemberService definition with SubmitUpdate's requests decoded by `decodeSubmitUpdateRequest`. */
export const MemberServiceDefinition: typeof MemberServiceService = {
  ...MemberServiceService,
  submitUpdate: {
    ...MemberServiceService.submitUpdate,
    requestDeserialize: decodeSubmitUpdateRequest,
  },
};
