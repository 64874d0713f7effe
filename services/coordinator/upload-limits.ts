import { resourceExhausted } from '../../sdk/common/grpc-errors.ts';

/** How much of the coordinator's descriptors, disk and time upload streams may hold. */
export interface UploadLimitSettings {
  /** Upload streams one member may have open at once (across all rounds). */
  readonly streamsPerMember: number;
  /** Upload streams open at once, all members together. */
  readonly streams: number;
  /** Bytes one member's unfinished uploads may have staged at once. */
  readonly bytesPerMember: number;
  /** Bytes all unfinished uploads may have staged at once. */
  readonly bytes: number;
  /** A stream that sends nothing for this long is cut. */
  readonly idleMs: number;
  /** A stream still open after this long is cut, however busy. */
  readonly totalMs: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimitSettings = {
  streamsPerMember: 8,
  streams: 512,
  bytesPerMember: 1 << 30,
  bytes: 8 * (1 << 30),
  idleMs: 30_000,
  totalMs: 600_000,
};

/** One admitted upload stream: the bytes it stages are counted until it is released. */
export interface UploadTicket {
  readonly member: string;
  /** Counts `bytes` more staged by this stream; throws RESOURCE_EXHAUSTED past a limit. */
  stage(bytes: number): void;
  /** Ties the stream to a round, so the stream ends when the round stops taking uploads. */
  joinRound(roundId: string, end: (error: Error) => void): void;
  /** The stream is over (answered, cancelled or committed); its slots are free again. */
  release(): void;
}

interface OpenStream {
  readonly member: string;
  staged: number;
  roundId: string | undefined;
  end: ((error: Error) => void) | undefined;
}

/**
 * Admission control for upload streams: one member cannot take the descriptors, disk or memory
 * the other members need. Every stream is counted from its first message until it is answered;
 * streams over a limit are refused RESOURCE_EXHAUSTED (which clients retry), naming the limit.
 */
export class UploadLimits {
  readonly settings: UploadLimitSettings;
  private readonly open = new Set<OpenStream>();
  private readonly streamsByMember = new Map<string, number>();
  private readonly bytesByMember = new Map<string, number>();
  private stagedBytes = 0;

  constructor(settings: UploadLimitSettings = DEFAULT_UPLOAD_LIMITS) {
    this.settings = settings;
  }

  /** Streams and bytes held now (metrics, tests). */
  get usage(): { streams: number; bytes: number } {
    return { streams: this.open.size, bytes: this.stagedBytes };
  }

  admit(member: string): UploadTicket {
    const memberStreams = this.streamsByMember.get(member) ?? 0;
    if (memberStreams >= this.settings.streamsPerMember) {
      throw resourceExhausted(
        `${member} already has ${memberStreams} uploads in progress (the limit per member is ${this.settings.streamsPerMember}); finish or cancel one first`,
      );
    }
    if (this.open.size >= this.settings.streams) {
      throw resourceExhausted(
        `the coordinator is receiving ${this.open.size} uploads, its limit; retry shortly`,
      );
    }
    const stream: OpenStream = { member, staged: 0, roundId: undefined, end: undefined };
    this.open.add(stream);
    this.streamsByMember.set(member, memberStreams + 1);
    let released = false;
    return {
      member,
      stage: (bytes) => this.stage(stream, bytes),
      joinRound: (roundId, end) => {
        stream.roundId = roundId;
        stream.end = end;
      },
      release: () => {
        if (released) return;
        released = true;
        this.release(stream);
      },
    };
  }

  /** Ends every unfinished stream of a round that no longer takes uploads, answering `error`. */
  endRound(roundId: string, error: Error): void {
    for (const stream of [...this.open]) if (stream.roundId === roundId) stream.end?.(error);
  }

  private stage(stream: OpenStream, bytes: number): void {
    const memberBytes = this.bytesByMember.get(stream.member) ?? 0;
    if (memberBytes + bytes > this.settings.bytesPerMember) {
      throw resourceExhausted(
        `${stream.member}'s unfinished uploads would hold more than ${this.settings.bytesPerMember} bytes; finish one first`,
      );
    }
    if (this.stagedBytes + bytes > this.settings.bytes) {
      throw resourceExhausted(
        `the coordinator's unfinished uploads would hold more than ${this.settings.bytes} bytes; retry shortly`,
      );
    }
    stream.staged += bytes;
    this.stagedBytes += bytes;
    this.bytesByMember.set(stream.member, memberBytes + bytes);
  }

  private release(stream: OpenStream): void {
    this.open.delete(stream);
    this.stagedBytes -= stream.staged;
    decrement(this.bytesByMember, stream.member, stream.staged);
    decrement(this.streamsByMember, stream.member, 1);
  }
}

function decrement(counts: Map<string, number>, key: string, by: number): void {
  const left = (counts.get(key) ?? 0) - by;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
