/**
 * The CloudEvents HTTP binding's header encoding (3.1.3.2), both ends: the local notifier's encoder
 * (infra/local, which imports nothing from the product) and the runtime's decoder must agree on
 * every script, on `%`, space and `"`, and the decoder must refuse what the spec says to refuse.
 */
import { describe, expect, it } from 'vitest';
import { percentEncodeHeader } from '../../infra/local/storage/notifications';
import {
  decodeHeaderValue,
  encodeHeaderValue,
  jsonDepth,
  valueDepth,
} from '../../shared/runtime/cloudevent-http';

const NAMES = [
  'objects/m/1/model.onnx',
  'objects/m/1/🙂 100% "sure".bin',
  'objects/m/1/report\u202egpj.exe',
  'objects/模型/1/модель.onnx',
  'objects/a%20b/1/%41',
  'objects/tab\there',
];

describe('ce-* header values', () => {
  it.each(NAMES)('%s survives the notifier encoding and the runtime decoding', (value) => {
    // Act
    const wire = percentEncodeHeader(value);

    // Assess: printable ASCII on the wire, no space, quote or bare %, and the same value back.
    expect(wire).toMatch(/^[\x21-\x7e]*$/);
    expect(wire).not.toMatch(/["\s]/);
    expect(wire.replace(/%[0-9A-F]{2}/g, '')).not.toContain('%');
    expect(encodeHeaderValue(value)).toBe(wire);
    expect(decodeHeaderValue(wire)).toBe(value);
  });

  it.each([
    ['lower-case hex', 'a%e2%80%aeb', 'a\u202eb'],
    ['unneeded escapes', '%61%62c', 'abc'],
    ['a double-quoted value from an older sender', '"a b \\"c\\""', 'a b "c"'],
    ['nothing to decode', 'plain', 'plain'],
  ])('decodes %s', (_what, wire, value) => {
    // Act / Assess
    expect(decodeHeaderValue(wire)).toBe(value);
  });

  it.each([
    ['a truncated UTF-8 sequence', 'objects/%E2%80', /not UTF-8/],
    ['an overlong encoding', '%C0%AF', /not UTF-8/],
    ['a % without hex digits', '100%', /two hex digits/],
    ['a % with one hex digit', '%4', /two hex digits/],
  ])('refuses %s', (_what, wire, message) => {
    // Act / Assess
    expect(() => decodeHeaderValue(wire)).toThrow(message);
  });
});

describe('depth without recursion', () => {
  it.each([
    ['{}', 1],
    ['{"a":[1,{"b":"[[[[["}]}', 3],
    ['"{{{{"', 0],
    ['[["\\"]"]]', 2],
  ])('jsonDepth(%s) = %i', (text, depth) => {
    // Act / Assess
    expect(jsonDepth(Buffer.from(text))).toBe(depth);
    expect(valueDepth(JSON.parse(text))).toBe(depth);
  });

  it('measures a value nested 100,000 deep and stops early when asked', () => {
    // Prepare
    const text = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

    // Act / Assess
    expect(jsonDepth(Buffer.from(text))).toBe(100_000);
    expect(jsonDepth(Buffer.from(text), 32)).toBe(33);
    expect(valueDepth(JSON.parse(text), 32)).toBe(33);
  });
});
