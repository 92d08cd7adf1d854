import { type FileHandle, open } from 'node:fs/promises';
import { type ByteSource, checkByteRange } from '../ports/storage';
import { ValidationError } from '../runtime/errors';

/** A local file, read with positional reads on one handle (opened on first use). */
export function fileByteSource(path: string): ByteSource {
  let handle: Promise<FileHandle> | undefined;
  let cachedSize: number | undefined;
  let bytesRead = 0;
  const getHandle = (): Promise<FileHandle> => {
    handle ??= open(path, 'r');
    return handle;
  };
  return {
    get bytesRead() {
      return bytesRead;
    },
    async size() {
      if (cachedSize === undefined) cachedSize = (await (await getHandle()).stat()).size;
      return cachedSize;
    },
    async read(offset, length) {
      checkByteRange(offset, length);
      const fh = await getHandle();
      const out = new Uint8Array(length);
      let filled = 0;
      // A positional read may return fewer bytes than asked for before the end of the file.
      while (filled < length) {
        const { bytesRead: n } = await fh.read(out, filled, length - filled, offset + filled);
        if (n === 0) break;
        filled += n;
      }
      bytesRead += filled;
      return filled === length ? out : out.subarray(0, filled);
    },
    async close() {
      const h = handle;
      handle = undefined;
      // A handle that never opened has nothing to release; the open error was already reported.
      if (h !== undefined)
        await h.then(
          (fh) => fh.close(),
          () => undefined,
        );
    },
  };
}

/** An in-memory source, for tests and for bytes already at hand. */
export function memoryByteSource(bytes: Uint8Array): ByteSource {
  let bytesRead = 0;
  return {
    get bytesRead() {
      return bytesRead;
    },
    async size() {
      return bytes.byteLength;
    },
    async read(offset, length) {
      checkByteRange(offset, length);
      const out = bytes.subarray(
        Math.min(offset, bytes.byteLength),
        Math.min(offset + length, bytes.byteLength),
      );
      bytesRead += out.byteLength;
      return out;
    },
    async close() {},
  };
}

export const DEFAULT_WINDOW_BYTES = 64 * 1024;

/**
 * Reads a ByteSource through one window of `windowBytes`, so the many tiny reads of a protobuf
 * walk (tags, varints, short strings) cost one ranged read per window, and a long field can be
 * skipped by moving the position without fetching it.
 *
 * Position and size are JS numbers: files up to 2^53 bytes.
 */
export class BufferedByteReader {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  position = 0;

  constructor(
    private readonly source: ByteSource,
    readonly size: number,
    private readonly windowBytes: number = DEFAULT_WINDOW_BYTES,
  ) {
    if (!Number.isSafeInteger(windowBytes) || windowBytes < 16) {
      throw new ValidationError('buffered reader', [
        { path: 'windowBytes', message: `window of ${windowBytes} bytes is too small (min 16)` },
      ]);
    }
  }

  get remaining(): number {
    return this.size - this.position;
  }

  /**
   * Makes up to `n` bytes from the position available in the window and returns how many are
   * (fewer only at the end of the source). The caller then uses `byteAt`.
   */
  async fill(n: number): Promise<number> {
    const want = Math.min(n, this.remaining);
    const offsetInWindow = this.position - this.windowStart;
    if (offsetInWindow >= 0 && offsetInWindow + want <= this.window.byteLength) return want;
    const length = Math.min(Math.max(this.windowBytes, want), this.remaining);
    const bytes = await this.source.read(this.position, length);
    this.window = bytes;
    this.windowStart = this.position;
    return Math.min(want, bytes.byteLength);
  }

  /** The byte at `position + i`; valid for `i` below what the last `fill` returned. */
  byteAt(i: number): number {
    return this.window[this.position - this.windowStart + i] ?? 0;
  }

  /** Reads `n` bytes (fewer only when the source ends early) and advances past them. */
  async readBytes(n: number): Promise<Uint8Array> {
    if (n > this.windowBytes) {
      // Larger than a window: one direct read rather than a window of that size kept around.
      const bytes = await this.source.read(this.position, Math.min(n, this.remaining));
      this.position += bytes.byteLength;
      return bytes;
    }
    const got = await this.fill(n);
    const start = this.position - this.windowStart;
    const out = this.window.slice(start, start + got);
    this.position += got;
    return out;
  }

  /** Moves the position forward without reading; the next read fetches a window from there. */
  skip(n: number): void {
    this.position += n;
  }
}
