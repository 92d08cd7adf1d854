import { describe, expect, it } from 'vitest';
import {
  type PbField,
  type PbMessage,
  PbtxtSyntaxError,
  type PbValue,
  parsePbtxt,
  quote,
  type WMessage,
  writePbtxt,
} from '../../shared/triton/pbtxt';

/** The AST without positions, as plain data, for compact expectations. */
function plain(v: PbValue): unknown {
  switch (v.kind) {
    case 'message':
      return v.fields.map((f: PbField) => [f.name, plain(f.value)]);
    case 'list':
      return { list: v.items.map(plain) };
    default:
      return v.value;
  }
}

function fields(text: string): unknown {
  return plain(parsePbtxt(text));
}

describe('parsePbtxt: accepted syntax', () => {
  const cases: Array<[string, string, unknown]> = [
    ['empty input', '', []],
    ['only comments and blanks', '# hello\n\n   # again\n', []],
    ['string scalar', 'name: "resnet"', [['name', 'resnet']]],
    ['single-quoted string', "name: 'it''s'", [['name', 'its']]],
    ['adjacent strings concatenate', 'name: "a" \'b\' "c"', [['name', 'abc']]],
    [
      'escapes',
      String.raw`s: "q\"b\\n\n t\t o\101 x\x41 u\u00e9 U\U0001F600"`,
      [['s', 'q"b\\n\n t\t oA xA ué U😀']],
    ],
    ['octal escapes forming UTF-8', String.raw`s: "\303\251"`, [['s', 'é']]],
    ['raw UTF-8 in string', 's: "héllo ✓"', [['s', 'héllo ✓']]],
    ['integer', 'n: 42', [['n', 42]]],
    ['negative integer', 'n: -1', [['n', -1]]],
    ['negative with space', 'n: - 7', [['n', -7]]],
    ['float', 'x: 1.5', [['x', 1.5]]],
    ['float exponent', 'x: -2.5e-3', [['x', -0.0025]]],
    ['float suffix', 'x: 3f', [['x', 3]]],
    ['leading-dot float', 'x: .25', [['x', 0.25]]],
    ['hex integer', 'x: 0x1F', [['x', 31]]],
    ['octal integer', 'x: 017', [['x', 15]]],
    ['identifier', 'data_type: TYPE_FP32', [['data_type', 'TYPE_FP32']]],
    [
      'booleans',
      'a: true b: false',
      [
        ['a', 'true'],
        ['b', 'false'],
      ],
    ],
    ['negative inf', 'x: -inf', [['x', Number.NEGATIVE_INFINITY]]],
    ['message without colon', 'a { b: 1 }', [['a', [['b', 1]]]]],
    ['message with colon', 'a: { b: 1 }', [['a', [['b', 1]]]]],
    ['angle brackets', 'a < b: 1 >', [['a', [['b', 1]]]]],
    ['empty message', 'all {}', [['all', []]]],
    ['scalar list', 'dims: [ 3, -1, 224 ]', [['dims', { list: [3, -1, 224] }]]],
    ['empty list', 'dims: []', [['dims', { list: [] }]]],
    [
      'list of messages without colon',
      'input [ { name: "a" }, { name: "b" } ]',
      [['input', { list: [[['name', 'a']], [['name', 'b']]] }]],
    ],
    ['list of messages with colon', 'input: [ { name: "a" } ]', [['input', { list: [[['name', 'a']]] }]]],
    [
      'separators',
      'a: 1, b: 2; c: 3',
      [
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ],
    ],
    [
      'repeated field',
      'g: 1 g: 2',
      [
        ['g', 1],
        ['g', 2],
      ],
    ],
    [
      'trailing comment',
      'a: 1 # one\nb: 2',
      [
        ['a', 1],
        ['b', 2],
      ],
    ],
    [
      'map entry',
      'parameters { key: "k" value { string_value: "v" } }',
      [
        [
          'parameters',
          [
            ['key', 'k'],
            ['value', [['string_value', 'v']]],
          ],
        ],
      ],
    ],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    // Act
    const result = fields(text);
    // Assess
    expect(result).toEqual(expected);
  });

  it('records 1-based positions of fields', () => {
    // Act
    const root = parsePbtxt('a: 1\n  b { c: 2 }');
    // Assess
    expect(root.fields[1]!.pos).toEqual({ line: 2, column: 3 });
    const inner = root.fields[1]!.value as PbMessage;
    expect(inner.fields[0]!.pos).toEqual({ line: 2, column: 7 });
  });
});

describe('parsePbtxt: errors name line:column and what was expected', () => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    ['unterminated string at end of line', 'name: "abc\nx: 1', 1, 7, /unterminated string/],
    ['unterminated string at end of input', "a: 1\nname: 'abc", 2, 7, /unterminated string/],
    ['bad number', 'n: 1.2.3', 1, 4, /invalid number "1\.2\.3"/],
    ['number glued to letters', 'n: 12abc', 1, 4, /invalid number "12abc"/],
    ['leading zero decimal', 'n: 09', 1, 4, /invalid number "09"/],
    ['missing colon before scalar', 'name "x"', 1, 6, /expected ':' or '\{' after field name 'name'/],
    ['unexpected closing brace', 'a: 1 }', 1, 6, /expected a field name, found '\}'/],
    ['unclosed message', 'a {\n b: 1\n', 3, 1, /expected '\}', found end of input/],
    ['mismatched close', 'a { b: 1 >', 1, 10, /expected a field name or '\}', found '>'/],
    ['missing value', 'a: }', 1, 4, /expected a value/],
    ['minus without number', 'a: -x', 1, 5, /expected a number after '-'/],
    ['bad list separator', 'dims: [1 2]', 1, 10, /expected ',' or '\]'/],
    ['scalars in colon-less list', 'dims [1, 2]', 1, 7, /a list without ':' holds messages/],
    ['unknown character', 'a: 1\n@', 2, 1, /unexpected character "@"/],
    ['unknown escape', String.raw`s: "\q"`, 1, 5, /unknown escape sequence \\q/],
    ['bad hex escape', String.raw`s: "\xZZ"`, 1, 5, /hex digits after \\x/],
    ['bad unicode escape', String.raw`s: "\uD800"`, 1, 5, /Unicode scalar value/],
    ['octal escape over 255', String.raw`s: "\777"`, 1, 5, /over \\377/],
    ['invalid UTF-8 from escapes', String.raw`s: "\377"`, 1, 4, /valid UTF-8/],
    ['field name is a number', '1: 2', 1, 1, /expected a field name, found number 1/],
  ];
  it.each(cases)('%s', (_name, text, line, column, message) => {
    // Act
    let caught: unknown;
    try {
      parsePbtxt(text);
    } catch (err) {
      caught = err;
    }
    // Assess
    expect(caught).toBeInstanceOf(PbtxtSyntaxError);
    const e = caught as PbtxtSyntaxError;
    expect(e.message).toMatch(message);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.message.startsWith(`${line}:${column}: `)).toBe(true);
    expect(e.reason).toBe('INVALID_PBTXT');
  });
});

describe('parsePbtxt: limits on hostile input', () => {
  it('rejects nesting deeper than the limit', () => {
    // Prepare
    const deep = `${'a { '.repeat(65)}${'} '.repeat(65)}`;
    // Act / Assess
    expect(() => parsePbtxt(deep)).toThrow(/nesting deeper than 64 levels/);
  });

  it('accepts nesting at the limit', () => {
    // Prepare
    const ok = `${'a { '.repeat(63)}${'} '.repeat(63)}`;
    // Act / Assess
    expect(parsePbtxt(ok).fields).toHaveLength(1);
  });

  it('rejects very deep nesting without a stack overflow', () => {
    // Prepare
    const hostile = '{'.repeat(100_000);
    // Act / Assess: a syntax error, not a RangeError
    expect(() => parsePbtxt(`a ${hostile}`)).toThrow(PbtxtSyntaxError);
    expect(() => parsePbtxt('a { '.repeat(100_000))).toThrow(/nesting deeper/);
  });

  it('rejects input over the size limit', () => {
    // Prepare
    const big = `# ${'x'.repeat(1024 * 1024)}`;
    // Act / Assess
    expect(() => parsePbtxt(big)).toThrow(/over the 1048576-byte limit/);
  });

  it('honours custom limits', () => {
    expect(() => parsePbtxt('a { b { } }', { maxDepth: 1 })).toThrow(/nesting deeper than 1 levels/);
    expect(() => parsePbtxt('name: "ééé"', { maxBytes: 10 })).toThrow(/14 bytes, over the 10-byte limit/);
  });
});

describe('writePbtxt', () => {
  it('writes canonical, indented text', () => {
    // Prepare
    const root: WMessage = {
      kind: 'message',
      fields: [
        { name: 'name', value: { kind: 'string', value: 'm' } },
        { name: 'max_batch_size', value: { kind: 'number', value: 8 } },
        {
          name: 'input',
          value: {
            kind: 'message',
            fields: [
              { name: 'data_type', value: { kind: 'ident', value: 'TYPE_FP32' } },
              {
                name: 'dims',
                value: { kind: 'list', items: [3, -1].map((value) => ({ kind: 'number' as const, value })) },
              },
              {
                name: 'reshape',
                value: { kind: 'message', fields: [{ name: 'shape', value: { kind: 'list', items: [] } }] },
              },
            ],
          },
        },
        { name: 'all', value: { kind: 'message', fields: [] } },
      ],
    };
    // Act
    const text = writePbtxt(root);
    // Assess
    expect(text).toBe(
      [
        'name: "m"',
        'max_batch_size: 8',
        'input {',
        '  data_type: TYPE_FP32',
        '  dims: [ 3, -1 ]',
        '  reshape {',
        '    shape: []',
        '  }',
        '}',
        'all {}',
        '',
      ].join('\n'),
    );
  });

  it('writes a list of messages in list syntax that parses back', () => {
    // Prepare
    const root: WMessage = {
      kind: 'message',
      fields: [
        {
          name: 'x',
          value: {
            kind: 'list',
            items: [
              { kind: 'message', fields: [{ name: 'a', value: { kind: 'number', value: 1 } }] },
              { kind: 'message', fields: [] },
            ],
          },
        },
      ],
    };
    // Act
    const text = writePbtxt(root);
    // Assess
    expect(fields(text)).toEqual([['x', { list: [[['a', 1]], []] }]]);
  });

  const quoted: Array<[string, string]> = [
    ['plain', '"plain"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['back\\slash', '"back\\\\slash"'],
    ['line\nfeed\ttab\rcr', '"line\\nfeed\\ttab\\rcr"'],
    ['\u0001\u007f', '"\\001\\177"'],
    ['é✓😀', '"é✓😀"'],
  ];
  it.each(quoted)('quotes %j', (value, expected) => {
    // Act
    const q = quote(value);
    // Assess
    expect(q).toBe(expected);
    expect(fields(`s: ${q}`)).toEqual([['s', value]]);
  });

  it('refuses a lone surrogate rather than writing broken UTF-8', () => {
    expect(() => quote('\ud800')).toThrow(/lone surrogate/);
  });
});
