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

/**
 * A page-aligned staging buffer: a WebAssembly memory starts on a page boundary (an ArrayBuffer
 * of Node's allocator does not), which O_DIRECT needs of the buffer it writes from.
 */
function takeStage(): Uint8Array {
  return (
    pool.pop() ?? new Uint8Array(new WasmMemory({ initial: STAGE_BYTES / WASM_PAGE_BYTES }).buffer)
  );
}

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
  private readonly free: Uint8Array[] = [];
  private readonly writing: { stage: Uint8Array; done: Promise<void> }[] = [];
  private stage: Uint8Array;
  private filled = 0;
  /** File offset of the current stage's first byte. */
  private position = 0;
  private buffered: Promise<FileHandle> | undefined;

  private constructor(handle: FileHandle, direct: boolean, path: string) {
    this.handle = handle;
    this.openedDirect = direct;
    this.direct = direct;
    this.path = path;
    for (let i = 0; i < STAGES_PER_FILE; i++) this.free.push(takeStage());
    this.stage = this.free.pop()!;
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
      const length = Math.min(STAGE_BYTES - this.filled, bytes.length - done);
      this.stage.set(bytes.subarray(done, done + length), this.filled);
      inspect(this.stage.subarray(this.filled, this.filled + length), done);
      this.filled += length;
      done += length;
      if (this.filled === STAGE_BYTES) await this.flushStage();
    }
  }

  /** Writes what is staged, sets the file's length to `size` bytes and fsyncs it. */
  async finish(size: number): Promise<void> {
    if (this.filled > 0) {
      const length = this.direct
        ? Math.ceil(this.filled / DIRECT_ALIGN) * DIRECT_ALIGN
        : this.filled;
      this.stage.fill(0, this.filled, length);
      this.filled = length;
      await this.flushStage();
    }
    await this.settle();
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
    for (const stage of [this.stage, ...this.free, ...this.writing.map((entry) => entry.stage)])
      if (pool.length < POOL_LIMIT) pool.push(stage);
    this.writing.length = 0;
    this.free.length = 0;
  }

  private async settle(): Promise<void> {
    for (const entry of this.writing.splice(0)) {
      this.free.push(entry.stage);
      await entry.done;
    }
  }

  /** Starts writing the current stage at its offset and takes a free one (waiting for one). */
  private async flushStage(): Promise<void> {
    const stage = this.stage;
    const done = this.writeAll(stage.subarray(0, this.filled), this.position);
    // Awaited in order below; a failure seen earlier is no unhandled rejection.
    done.catch(() => {});
    this.writing.push({ stage, done });
    this.position += this.filled;
    this.filled = 0;
    if (this.free.length === 0) {
      const oldest = this.writing.shift()!;
      this.free.push(oldest.stage);
      await oldest.done;
    }
    this.stage = this.free.pop()!;
  }

  /** Writes all of `bytes` at `position` (a write may write fewer bytes than asked: a full disk). */
  private async writeAll(bytes: Uint8Array, position: number): Promise<void> {
    for (let done = 0; done < bytes.length;) {
      let written: number;
      try {
        const handle = this.direct ? this.handle : await this.bufferedHandle();
        ({ bytesWritten: written } = await handle.write(
          bytes,
          done,
          bytes.length - done,
          position + done,
        ));
      } catch (error) {
        // A file system that opens with O_DIRECT but refuses its writes (an alignment it needs
        // beyond 4 KiB, a short write left unaligned): the rest goes through the page cache.
        if (!this.direct || (error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
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
