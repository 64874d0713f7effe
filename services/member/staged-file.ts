import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/**
 * Alignment of O_DIRECT writes (file offset, length and buffer address): 4 KiB serves disks of
 * 512-byte and of 4 KiB sectors.
 */
const DIRECT_ALIGN = 4096;
/** One staging buffer: the largest SubmitUpdate chunk, a multiple of DIRECT_ALIGN. */
export const STAGE_BYTES = 4 * 1024 * 1024;
/**
 * Staging buffers per file: one filling while the other is written (a direct 4 MiB write takes a
 * few ms, filling one from the network tens of ms).
 */
const STAGES_PER_FILE = 2;
/** Staging buffers kept for the next stream (8 MiB), so a stream touches no fresh memory. */
const POOL_LIMIT = 2;
const WASM_PAGE_BYTES = 64 * 1024;

/** WebAssembly.Memory (TypeScript declares it only in its "dom" lib). */
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } };
  }
).WebAssembly.Memory;

const pool: Uint8Array[] = [];
/** Set once a file system refused O_DIRECT: later files are written through the page cache. */
let directRefused = constants.O_DIRECT === undefined;

const wasmStages = new WeakSet<ArrayBuffer>();

/**
 * A page-aligned staging buffer: a WebAssembly memory starts on a page boundary (an ArrayBuffer
 * of Node's allocator does not), which O_DIRECT needs of the buffer it writes from. A process
 * that can reserve no more WebAssembly memory gets an ordinary buffer (written without O_DIRECT).
 */
function newStage(): Uint8Array {
  try {
    const buffer = new WasmMemory({ initial: STAGE_BYTES / WASM_PAGE_BYTES }).buffer;
    wasmStages.add(buffer);
    return new Uint8Array(buffer);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return new Uint8Array(STAGE_BYTES);
  }
}

const isPageAligned = (stage: Uint8Array): boolean => wasmStages.has(stage.buffer as ArrayBuffer);

/**
 * A file written from aligned staging buffers with O_DIRECT where the file system takes it (the
 * page cache is bypassed: on the VM this was measured on, copying 40 MB into fresh page-cache
 * pages cost 6–9 ms of kernel CPU per MB, more than everything else the peer does with an
 * upload; a direct write costs almost none), through the page cache otherwise. Bytes are
 * appended in order; each piece is handed to `inspect` in its aligned staged copy before any of
 * it is written. `finish` writes the rest (a direct write's last block padded with zeros, then
 * the file truncated to its length) and fsyncs.
 */
export class StagedFile {
  private readonly handle: FileHandle;
  private readonly openedDirect: boolean;
  /** Whether writes still go direct (a refused direct write turns this off). */
  private direct: boolean;
  private readonly path: string;
  /** Staging buffers this file holds, taken as bytes arrive (a header alone costs none). */
  private readonly stages: Uint8Array[] = [];
  private readonly free: Uint8Array[] = [];
  private readonly writing: { stage: Uint8Array; done: Promise<void> }[] = [];
  private stage: Uint8Array | undefined;
  private filled = 0;
  /** File offset of the current stage's first byte. */
  private position = 0;
  private buffered: Promise<FileHandle> | undefined;

  private constructor(handle: FileHandle, direct: boolean, path: string) {
    this.handle = handle;
    this.openedDirect = direct;
    this.direct = direct;
    this.path = path;
  }

  /** Creates `path` (it must not exist), readable by its owner only. */
  static async create(path: string): Promise<StagedFile> {
    if (!directRefused) {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT;
      try {
        return new StagedFile(await open(path, flags, 0o600), true, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
        directRefused = true;
      }
    }
    return new StagedFile(await open(path, 'wx', 0o600), false, path);
  }

  /**
   * Appends `bytes` (whole float32 values: a multiple of 4 bytes). `inspect` sees each staged
   * piece (4-byte aligned) with its offset in `bytes`, and may throw to refuse them.
   */
  async append(
    bytes: Uint8Array,
    inspect: (staged: Uint8Array, offset: number) => void,
  ): Promise<void> {
    for (let done = 0; done < bytes.length;) {
      const stage = this.stage ?? (this.stage = await this.nextStage());
      const length = Math.min(STAGE_BYTES - this.filled, bytes.length - done);
      stage.set(bytes.subarray(done, done + length), this.filled);
      inspect(stage.subarray(this.filled, this.filled + length), done);
      this.filled += length;
      done += length;
      if (this.filled === STAGE_BYTES) this.flushStage();
    }
  }

  /** Writes what is staged, sets the file's length to `size` bytes and fsyncs it. */
  async finish(size: number): Promise<void> {
    if (this.stage !== undefined && this.filled > 0) {
      const length = this.direct
        ? Math.ceil(this.filled / DIRECT_ALIGN) * DIRECT_ALIGN
        : this.filled;
      this.stage.fill(0, this.filled, length);
      this.filled = length;
      this.flushStage();
    }
    // Every write settles before its stage can be reused (here or, after a failure, by another
    // stream once `close` pools it); the first failure is then reported.
    const writes = this.writing.splice(0);
    const settled = await Promise.allSettled(writes.map((entry) => entry.done));
    this.free.push(...writes.map((entry) => entry.stage));
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    const handle = this.buffered === undefined ? this.handle : await this.buffered;
    // A direct write's padding past the values is cut off before the fsync.
    await handle.truncate(size);
    await handle.sync();
  }

  /** Waits for every write, closes the file and returns the staging buffers to the pool. */
  async close(): Promise<void> {
    await Promise.allSettled(this.writing.map((entry) => entry.done));
    await this.handle.close();
    if (this.buffered !== undefined) await (await this.buffered.catch(() => undefined))?.close();
    for (const stage of this.stages) if (pool.length < POOL_LIMIT) pool.push(stage);
    this.stages.length = 0;
    this.writing.length = 0;
    this.free.length = 0;
    this.stage = undefined;
  }

  /** Starts writing the current stage at its offset; the next bytes go to another stage. */
  private flushStage(): void {
    const stage = this.stage!;
    const done = this.writeAll(stage.subarray(0, this.filled), this.position);
    // Awaited before its stage is reused or the file finished; no unhandled rejection before.
    done.catch(() => {});
    this.writing.push({ stage, done });
    this.position += this.filled;
    this.filled = 0;
    this.stage = undefined;
  }

  /** A free stage, a new one while this file holds fewer than STAGES_PER_FILE, or the oldest written. */
  private async nextStage(): Promise<Uint8Array> {
    const free = this.free.pop();
    if (free !== undefined) return free;
    if (this.stages.length < STAGES_PER_FILE) {
      const stage = pool.pop() ?? newStage();
      this.stages.push(stage);
      // Node's allocator gives no page alignment: such a stage is written through the page cache.
      if (!isPageAligned(stage)) this.direct = false;
      return stage;
    }
    const oldest = this.writing.shift()!;
    await oldest.done;
    return oldest.stage;
  }

  /** Writes all of `bytes` at `position` (a write may write fewer bytes than asked: a full disk). */
  private async writeAll(bytes: Uint8Array, position: number): Promise<void> {
    for (let done = 0; done < bytes.length;) {
      let written: number;
      // Whether THIS write went direct: two writes are in flight, and the first refused one
      // turns `direct` off before the second's refusal arrives.
      const direct = this.direct;
      try {
        const handle = direct ? this.handle : await this.bufferedHandle();
        ({ bytesWritten: written } = await handle.write(
          bytes,
          done,
          bytes.length - done,
          position + done,
        ));
      } catch (error) {
        // A file system that opens with O_DIRECT but refuses its writes (an alignment it needs
        // beyond 4 KiB, a short write left unaligned): the rest goes through the page cache.
        if (!direct || (error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
        this.direct = false;
        directRefused = true;
        continue;
      }
      if (written <= 0)
        throw new Error(`the update could not be written to disk at byte ${position + done}`);
      done += written;
    }
  }

  /** The file without O_DIRECT: the handle itself if it was opened so, else a second one. */
  private bufferedHandle(): Promise<FileHandle> {
    if (!this.openedDirect) return Promise.resolve(this.handle);
    this.buffered ??= open(this.path, 'r+');
    return this.buffered;
  }
}
