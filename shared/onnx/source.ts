import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type ByteSource, checkByteRange } from '../ports/storage';
import { ValidationError } from '../runtime/errors';

/**
 * A local file, read with positional reads on one descriptor (opened on first use).
 *
 * The reads are synchronous under the async interface: a signature read makes a few reads of at
 * most a window (256 KiB) from what is almost always the page cache, a copy of microseconds,
 * while each trip through libuv's thread pool costs tens of them; on a small model the four trips
 * of open, stat, read and close were most of the time, more than onnxruntime takes to load it.
 * For a CLI and tests that is the right trade; a server reading from a slow network file system
 * would want the thread pool back.
 */
export function fileByteSource(path: string): ByteSource {
  let fd: number | undefined;
  let cachedSize: number | undefined;
  let bytesRead = 0;
  const descriptor = (): number => {
    fd ??= openSync(path, 'r');
    return fd;
  };
  return {
    get bytesRead() {
      return bytesRead;
    },
    async size() {
      if (cachedSize === undefined) cachedSize = fstatSync(descriptor()).size;
      return cachedSize;
    },
    async read(offset, length) {
      checkByteRange(offset, length);
      const fdNow = descriptor();
      const out = new Uint8Array(length);
      let filled = 0;
      // A positional read may return fewer bytes than asked for before the end of the file.
      while (filled < length) {
        const n = readSync(fdNow, out, filled, length - filled, offset + filled);
        if (n === 0) break;
        filled += n;
      }
      bytesRead += filled;
      return filled === length ? out : out.subarray(0, filled);
    },
    async close() {
      // A descriptor that never opened has nothing to release; the open error was already reported.
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
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

/** The largest ranged read (the first one, and a long run of metadata): 256 KiB. */
export const DEFAULT_WINDOW_BYTES = 256 * 1024;

/**
 * The read after skipping a field the window did not cover: enough for the next tensor's header
 * (dims, type, name, the raw_data length), small because what follows it is usually more weights.
 */
export const AFTER_SKIP_WINDOW_BYTES = 512;

/**
 * Reads a ByteSource through one window, so the many tiny reads of a protobuf walk (tags, varints,
 * short strings) are served from memory, and a long field is skipped by moving the position
 * without fetching it. The size of each read adapts to how the walk moves:
 *
 * - a file up to 4 windows is read whole, in one request;
 * - otherwise the first read is one window;
 * - a refill that continues where the window ended (or a little past it) doubles, up to a window:
 *   a long run of metadata costs a few requests, not one per window;
 * - a refill after skipping further than that (the weights of a tensor) reads only
 *   `AFTER_SKIP_WINDOW_BYTES`, then doubles again if the walk keeps going.
 *
 * A refill keeps the bytes of the window not yet consumed, so no byte is fetched twice. `requests`
 * counts the reads. Position and size are JS numbers: files up to 2^53 bytes.
 */
export class BufferedByteReader {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  private nextRead: number;
  position = 0;
  requests = 0;

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
    this.nextRead = windowBytes;
  }

  get remaining(): number {
    return this.size - this.position;
  }

  /** Bytes from the position that are in the window now (0 when the position is outside it). */
  get available(): number {
    const offset = this.position - this.windowStart;
    return offset >= 0 ? Math.max(0, this.window.byteLength - offset) : 0;
  }

  /**
   * Makes up to `n` bytes from the position available in the window and returns how many are
   * (fewer only at the end of the source). The caller then uses `byteAt`. Reads only when the
   * window does not hold them already.
   */
  async fill(n: number): Promise<number> {
    const want = Math.min(n, this.remaining);
    const have = this.available;
    if (have >= want) return want;
    const windowEnd = this.windowStart + this.window.byteLength;
    let size: number;
    if (this.requests === 0) {
      size = this.size <= 4 * this.windowBytes ? this.size : this.windowBytes;
    } else if (this.position - windowEnd < AFTER_SKIP_WINDOW_BYTES) {
      size = this.nextRead;
      this.nextRead = Math.min(2 * this.nextRead, this.windowBytes);
    } else {
      size = Math.min(AFTER_SKIP_WINDOW_BYTES, this.windowBytes);
      this.nextRead = Math.min(2 * size, this.windowBytes);
    }
    const tail = have > 0 ? this.window.subarray(this.position - this.windowStart) : undefined;
    const from = this.position + have;
    const length = Math.min(Math.max(size, want - have), this.size - from);
    const bytes = await this.source.read(from, length);
    this.requests += 1;
    if (tail === undefined) {
      this.window = bytes;
    } else {
      const joined = new Uint8Array(tail.byteLength + bytes.byteLength);
      joined.set(tail, 0);
      joined.set(bytes, tail.byteLength);
      this.window = joined;
    }
    this.windowStart = this.position;
    return Math.min(want, this.window.byteLength);
  }

  /** The byte at `position + i`; valid for `i` below what the last `fill` returned. */
  byteAt(i: number): number {
    return this.window[this.position - this.windowStart + i] ?? 0;
  }

  /** `n` bytes from the position, which must be in the window (`available >= n`); advances. */
  take(n: number): Uint8Array {
    const start = this.position - this.windowStart;
    const out = this.window.subarray(start, start + n);
    this.position += out.byteLength;
    return out;
  }

  /** Reads `n` bytes (fewer only when the source ends early) and advances past them. */
  async readBytes(n: number): Promise<Uint8Array> {
    if (n > this.windowBytes && this.available === 0) {
      // Larger than a window: one direct read rather than a window of that size kept around.
      const bytes = await this.source.read(this.position, Math.min(n, this.remaining));
      this.requests += 1;
      this.position += bytes.byteLength;
      return bytes;
    }
    const got = await this.fill(n);
    return this.take(got).slice();
  }

  /** Moves the position forward without reading; the next read fetches a window from there. */
  skip(n: number): void {
    this.position += n;
  }
}
