/**
 * The streaming multipart/related reader, fed the body the official client sends, split at every
 * possible chunk boundary (a delimiter may straddle socket chunks).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readMultipartRelated } from '../../infra/local/storage/multipart';

/** Byte-for-byte what teeny-request writes for `uploadType=multipart`. */
function clientBody(boundary: string, metadata: string, media: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${metadata}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Type: text/plain\r\n\r\n`),
    media,
    Buffer.from(`\r\n--${boundary}--`),
  ]);
}

async function parse(body: Buffer, boundary: string, chunkSize: number) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunkSize) chunks.push(body.subarray(i, i + chunkSize));
  let metadata = '';
  let mediaType: string | undefined;
  const media: Buffer[] = [];
  const { peakHeldBytes } = await readMultipartRelated(Readable.from(chunks), boundary, {
    onMetadata: (_part, b) => {
      metadata = b.toString('utf8');
    },
    onMediaStart: (part) => {
      mediaType = part.headers['content-type'];
    },
    onMediaChunk: async (c) => {
      media.push(Buffer.from(c));
    },
  });
  return { metadata, mediaType, media: Buffer.concat(media), peakHeldBytes };
}

describe('readMultipartRelated', () => {
  const boundary = '7f0b6c1e-3a52-4c5e-9d0a-0b1c2d3e4f50';
  // Media that contains CRLFs, dashes and a near-miss of the delimiter.
  const media = Buffer.from(`line1\r\n--${boundary.slice(0, 10)}\r\n\r\n--\r\nend`);
  const body = clientBody(boundary, '{"name":"x","metadata":{"k":"v"}}', media);

  it.each([1, 2, 3, 7, 16, 41, body.length])(
    'parses a body delivered in %i-byte chunks',
    async (chunkSize) => {
      // Act
      const parsed = await parse(body, boundary, chunkSize);

      // Assess
      expect(parsed.metadata).toBe('{"name":"x","metadata":{"k":"v"}}');
      expect(parsed.mediaType).toBe('text/plain');
      expect(parsed.media.equals(media)).toBe(true);
    },
  );

  it('holds at most one chunk plus a delimiter of a large media part', async () => {
    // Prepare
    const large = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const chunkSize = 64 * 1024;

    // Act
    const parsed = await parse(clientBody(boundary, '{}', large), boundary, chunkSize);

    // Assess
    expect(parsed.media.length).toBe(large.length);
    expect(parsed.peakHeldBytes).toBeLessThanOrEqual(chunkSize + boundary.length + 8);
  });

  it.each([
    [
      'no closing delimiter',
      Buffer.from(`--${boundary}\r\nContent-Type: a\r\n\r\n{}\r\n--${boundary}\r\n\r\nabc`),
    ],
    ['only one part', Buffer.from(`--${boundary}\r\nContent-Type: a\r\n\r\n{}\r\n--${boundary}--`)],
    ['no opening delimiter', Buffer.from('just bytes')],
  ])('rejects a body with %s', async (_name, bad) => {
    await expect(parse(bad, boundary, 5)).rejects.toMatchObject({ code: 400 });
  });
});
