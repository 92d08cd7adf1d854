import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeText } from '../../shared/onnx/reader';

const utf8 = new TextDecoder('utf-8');
const bytes = (...b: number[]) => Uint8Array.from(b);
const ascii = (s: string) => new TextEncoder().encode(s);

describe('decodeText decodes exactly as TextDecoder("utf-8")', () => {
  it.each([
    { what: 'empty', input: bytes() },
    { what: 'a tensor name', input: ascii('input_ids:0') },
    { what: 'control characters and DEL', input: bytes(0, 9, 10, 0x7f) },
    { what: 'non-ASCII UTF-8', input: ascii('données/poids') },
    { what: 'a BOM, which the decoder drops', input: bytes(0xef, 0xbb, 0xbf, 0x41) },
    { what: 'an invalid byte, which becomes U+FFFD', input: bytes(0x41, 0xff, 0x42) },
    { what: 'a truncated sequence', input: bytes(0x41, 0xe2, 0x82) },
    { what: 'ASCII longer than the fast path', input: ascii('x'.repeat(300)) },
    { what: 'non-ASCII at the very end of a short string', input: bytes(0x61, 0x62, 0xc3, 0xa9) },
  ])('$what', ({ input }) => {
    expect(decodeText(input)).toBe(utf8.decode(input));
  });

  it('on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (input) => {
        expect(decodeText(input)).toBe(utf8.decode(input));
      }),
    );
  });
});
