import { MemberServiceService, SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';

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

/** The MemberService definition with SubmitUpdate's requests decoded by `decodeSubmitUpdateRequest`. */
export const MemberServiceDefinition: typeof MemberServiceService = {
  ...MemberServiceService,
  submitUpdate: {
    ...MemberServiceService.submitUpdate,
    requestDeserialize: decodeSubmitUpdateRequest,
  },
};
