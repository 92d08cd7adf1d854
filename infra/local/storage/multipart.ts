/**
 * A streaming reader for the `multipart/related` bodies of `uploadType=multipart`: the first part
 * (object metadata JSON) is small and read whole; the second part (the media) is handed on chunk
 * by chunk as it arrives, holding back only enough bytes to recognise the closing delimiter.
 */
import type { Readable } from 'node:stream';
import { invalid } from './errors';

const HEADER_LIMIT = 64 * 1024;
const METADATA_LIMIT = 8 * 1024 * 1024;

export interface MultipartPart {
  headers: Record<string, string>;
}

export interface MultipartHandlers {
  /** The first part, whole. */
  onMetadata(part: MultipartPart, body: Buffer): void | Promise<void>;
  /** The second part's headers, before any of its bytes. */
  onMediaStart(part: MultipartPart): void | Promise<void>;
  /** A slice of the second part; the promise applies backpressure to the request. */
  onMediaChunk(chunk: Buffer): Promise<void>;
}

export function boundaryOf(contentType: string | undefined): string {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const boundary = match?.[1] ?? match?.[2];
  if (!contentType?.toLowerCase().startsWith('multipart/') || !boundary)
    throw invalid('Multipart upload needs a multipart/related Content-Type with a boundary.');
  return boundary;
}

function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return headers;
}

/**
 * Reads `body` to its end. Returns the largest number of bytes held at once (for tests that
 * check nothing is buffered whole).
 */
export async function readMultipartRelated(
  body: AsyncIterable<Buffer> & Readable,
  boundary: string,
  handlers: MultipartHandlers,
): Promise<{ peakHeldBytes: number }> {
  // A CRLF is prepended so the first delimiter looks like every other: CRLF "--" boundary.
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let held: Buffer = Buffer.from('\r\n');
  let peak = 0;
  type State = 'preamble' | 'headers' | 'body' | 'afterDelimiter' | 'epilogue';
  let state = 'preamble' as State;
  let partIndex = 0;
  let metadataChunks: Buffer[] = [];
  let metadataSize = 0;
  let currentHeaders: Record<string, string> = {};

  const step = async (final: boolean): Promise<boolean> => {
    switch (state) {
      case 'preamble': {
        const at = held.indexOf(delimiter);
        if (at < 0) {
          if (held.length > HEADER_LIMIT) throw invalid('Multipart body has no opening boundary.');
          return false;
        }
        held = held.subarray(at + delimiter.length);
        state = 'afterDelimiter';
        return true;
      }
      case 'afterDelimiter': {
        if (held.length < 2) return false;
        if (held[0] === 0x2d && held[1] === 0x2d) {
          state = 'epilogue';
          return true;
        }
        const eol = held.indexOf('\r\n');
        if (eol < 0) return false;
        held = held.subarray(eol + 2);
        state = 'headers';
        return true;
      }
      case 'headers': {
        const end = held.indexOf('\r\n\r\n');
        const emptyHeaders = held.subarray(0, 2).toString() === '\r\n';
        if (end < 0 && !emptyHeaders) {
          if (held.length > HEADER_LIMIT) throw invalid('Multipart part headers too large.');
          return false;
        }
        currentHeaders = emptyHeaders ? {} : parseHeaders(held.subarray(0, end).toString('utf8'));
        held = held.subarray(emptyHeaders ? 2 : end + 4);
        if (partIndex === 1) await handlers.onMediaStart({ headers: currentHeaders });
        state = 'body';
        return true;
      }
      case 'body': {
        const at = held.indexOf(delimiter);
        const complete = at >= 0;
        // Without a delimiter in sight, all but a possible delimiter prefix at the end is body.
        const usable = complete ? at : Math.max(0, held.length - (delimiter.length - 1));
        const slice = held.subarray(0, usable);
        held = held.subarray(usable);
        if (partIndex === 0) {
          metadataSize += slice.length;
          if (metadataSize > METADATA_LIMIT) throw invalid('Multipart metadata part too large.');
          if (slice.length) metadataChunks.push(Buffer.from(slice));
        } else if (partIndex === 1) {
          if (slice.length) await handlers.onMediaChunk(slice);
        } else if (slice.length) {
          throw invalid('Multipart upload must have exactly two parts.');
        }
        if (!complete) return false;
        if (partIndex === 0) {
          await handlers.onMetadata({ headers: currentHeaders }, Buffer.concat(metadataChunks));
          metadataChunks = [];
        }
        partIndex += 1;
        held = held.subarray(delimiter.length);
        state = 'afterDelimiter';
        return true;
      }
      case 'epilogue':
        held = Buffer.alloc(0);
        return false;
    }
    return final;
  };

  for await (const chunk of body) {
    held = held.length ? Buffer.concat([held, chunk]) : chunk;
    peak = Math.max(peak, held.length);
    while (await step(false)) {}
  }
  while (await step(true)) {}
  if (state !== 'epilogue') throw invalid('Multipart body ended before its closing boundary.');
  if (partIndex !== 2) throw invalid('Multipart upload must have exactly two parts.');
  return { peakHeldBytes: peak };
}
