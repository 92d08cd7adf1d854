/**
 * A protobuf text-format reader (the format of `config.pbtxt`), driven by protobufjs reflection of
 * the vendored model_config.proto. It follows the C++ `TextFormat::Parser` Triton uses: `#`
 * comments, `name: value` scalars (the `:` is required), messages as `{...}` or `<...>` with an
 * optional `:`, repeated fields as repeated keys or `[a, b]` lists, enums by name (or number),
 * maps as repeated `{ key: ... value: ... }` entries, oneofs, adjacent string literals
 * concatenated, C escapes, optional `,`/`;` separators. Errors carry protobuf's wording and its
 * 1-based `line:column`, e.g. `3:1: Message type "inference.ModelConfig" has no field named
 * "inputs".`
 */
import type protobuf from 'protobufjs';
import {
  enumOf,
  FLOAT_TYPES,
  fullName,
  INT32_TYPES,
  INT64_TYPES,
  integerInRange,
  isIntegerType,
  keyTypeOf,
  messageOf,
  type ProtoObject,
  type ProtoValue,
} from './schema';

export class TextFormatError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${line}:${column}: ${reason}`);
    this.name = 'TextFormatError';
  }
}

type TokenKind = 'ident' | 'int' | 'float' | 'string' | 'symbol' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  /** Decoded value of a string literal. */
  value?: string;
  line: number;
  column: number;
}

const RECURSION_LIMIT = 100;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (at: number, reason: string): never => {
    throw new TextFormatError(line, at - lineStart + 1, reason);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      i += 1;
      line += 1;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i += 1;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i += 1;
      continue;
    }
    const start = i;
    const column = start - lineStart + 1;
    if (/[A-Za-z_]/.test(c)) {
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i += 1;
      tokens.push({ kind: 'ident', text: text.slice(start, i), line, column });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      let kind: TokenKind = 'int';
      if (c === '0' && /[xX]/.test(text[i + 1] ?? '')) {
        i += 2;
        while (i < text.length && /[0-9a-fA-F]/.test(text[i]!)) i += 1;
      } else {
        while (i < text.length && /[0-9]/.test(text[i]!)) i += 1;
        if (text[i] === '.') {
          kind = 'float';
          i += 1;
          while (i < text.length && /[0-9]/.test(text[i]!)) i += 1;
        }
        if (/[eE]/.test(text[i] ?? '')) {
          kind = 'float';
          i += 1;
          if (/[-+]/.test(text[i] ?? '')) i += 1;
          if (!/[0-9]/.test(text[i] ?? '')) fail(i, '"e" must be followed by exponent.');
          while (i < text.length && /[0-9]/.test(text[i]!)) i += 1;
        }
        if (/[fF]/.test(text[i] ?? '')) {
          kind = 'float';
          i += 1;
        }
      }
      if (/[A-Za-z_]/.test(text[i] ?? '')) fail(i, 'Need space between number and identifier.');
      tokens.push({ kind, text: text.slice(start, i), line, column });
      continue;
    }
    if (c === '"' || c === "'") {
      i += 1;
      let value = '';
      for (;;) {
        if (i >= text.length) fail(i, 'Unexpected end of string.');
        const d = text[i]!;
        if (d === '\n') fail(i, 'String literals cannot cross line boundaries.');
        if (d === c) {
          i += 1;
          break;
        }
        if (d !== '\\') {
          value += d;
          i += 1;
          continue;
        }
        const e = text[i + 1] ?? '';
        const simple: Record<string, string> = {
          n: '\n',
          t: '\t',
          r: '\r',
          a: '\x07',
          b: '\b',
          f: '\f',
          v: '\v',
          '\\': '\\',
          "'": "'",
          '"': '"',
          '?': '?',
        };
        if (Object.hasOwn(simple, e)) {
          value += simple[e];
          i += 2;
        } else if (/[0-7]/.test(e)) {
          const m = /^[0-7]{1,3}/.exec(text.slice(i + 1))![0];
          value += String.fromCharCode(Number.parseInt(m, 8));
          i += 1 + m.length;
        } else if (e === 'x' || e === 'X') {
          const m = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 2));
          if (!m) fail(i, 'Expected hex digits for escape sequence.');
          value += String.fromCharCode(Number.parseInt(m![0], 16));
          i += 2 + m![0].length;
        } else if (e === 'u' || e === 'U') {
          const n = e === 'u' ? 4 : 8;
          const hex = text.slice(i + 2, i + 2 + n);
          if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex))
            fail(i, 'Expected four hex digits for \\u escape sequence.');
          value += String.fromCodePoint(Number.parseInt(hex, 16));
          i += 2 + n;
        } else {
          fail(i, 'Invalid escape sequence in string literal.');
        }
      }
      tokens.push({ kind: 'string', text: text.slice(start, i), value, line, column });
      continue;
    }
    tokens.push({ kind: 'symbol', text: c, line, column });
    i += 1;
  }
  tokens.push({ kind: 'end', text: '', line, column: i - lineStart + 1 });
  return tokens;
}

/** Parses text format into the proto JSON shape (original field names, enums by name). */
export function parseTextProto(text: string, type: protobuf.Type): ProtoObject {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos]!;
  const next = () => tokens[pos++]!;
  const at = (text: string) => peek().kind !== 'string' && peek().text === text;
  const error = (tok: Token, reason: string): never => {
    throw new TextFormatError(tok.line, tok.column, reason);
  };
  const quoted = (tok: Token) => (tok.kind === 'end' ? '' : tok.text);
  const expect = (symbol: string) => {
    const tok = peek();
    if (!at(symbol)) error(tok, `Expected "${symbol}", found "${quoted(tok)}".`);
    pos += 1;
  };

  function parseMessage(t: protobuf.Type, close: string, depth: number): ProtoObject {
    if (depth > RECURSION_LIMIT) {
      error(
        peek(),
        `Message is too deep, the parser exceeded the configured recursion limit of ${RECURSION_LIMIT}.`,
      );
    }
    const out: ProtoObject = {};
    const seen = new Set<string>();
    for (;;) {
      if (close === '' && peek().kind === 'end') return out;
      if (close !== '' && at(close)) {
        pos += 1;
        return out;
      }
      if (peek().kind === 'end') error(peek(), `Expected "${close}".`);
      parseField(t, out, seen, depth);
    }
  }

  function parseField(t: protobuf.Type, out: ProtoObject, seen: Set<string>, depth: number): void {
    const nameTok = peek();
    if (at('[')) {
      // Extensions and Any expansions: ModelConfig has neither.
      let name = '';
      pos += 1;
      while (peek().kind !== 'end' && !at(']')) name += next().text;
      error(nameTok, `Message type "${fullName(t)}" has no field named "[${name}]".`);
    }
    if (nameTok.kind !== 'ident') error(nameTok, `Expected identifier, got: ${quoted(nameTok)}`);
    pos += 1;
    const field = t.fields[nameTok.text];
    if (!field) error(nameTok, `Message type "${fullName(t)}" has no field named "${nameTok.text}".`);
    const f = field!;
    const repeated = f.repeated || f.map;
    if (!repeated && seen.has(f.name)) {
      error(nameTok, `Non-repeated field "${f.name}" is specified multiple times.`);
    }
    const oneof = f.partOf;
    if (oneof) {
      const other = oneof.oneof.find((n) => n !== f.name && seen.has(n));
      if (other !== undefined) {
        error(
          nameTok,
          `Field "${f.name}" is specified along with field "${other}", another member of oneof "${oneof.name}".`,
        );
      }
    }
    seen.add(f.name);
    const sub = messageOf(f);
    if (f.map || sub) {
      if (at(':')) pos += 1;
      const one = () => {
        const open = peek();
        if (!at('{') && !at('<')) error(open, `Expected "{", found "${quoted(open)}".`);
        pos += 1;
        const close = open.text === '{' ? '}' : '>';
        if (f.map) addMapEntry(f, out, parseMapEntry(t, f, close, depth + 1));
        else push(out, f, parseMessage(sub!, close, depth + 1));
      };
      if (at('[') && repeated) {
        pos += 1;
        if (at(']')) pos += 1;
        else {
          for (;;) {
            one();
            if (at(']')) {
              pos += 1;
              break;
            }
            expect(',');
          }
        }
      } else one();
    } else {
      expect(':');
      if (at('[') && f.repeated) {
        pos += 1;
        if (at(']')) pos += 1;
        else {
          for (;;) {
            push(out, f, parseScalar(f));
            if (at(']')) {
              pos += 1;
              break;
            }
            expect(',');
          }
        }
      } else push(out, f, parseScalar(f));
    }
    if (at(';') || at(',')) pos += 1;
  }

  function push(out: ProtoObject, f: protobuf.Field, value: ProtoValue): void {
    if (f.repeated) {
      const list = (out[f.name] as ProtoValue[] | undefined) ?? [];
      list.push(value);
      out[f.name] = list;
    } else out[f.name] = value;
  }

  function entryTypeName(t: protobuf.Type, f: protobuf.Field): string {
    const camel = f.name.replace(/(^|_)([a-z])/g, (_m, _u, ch: string) => ch.toUpperCase());
    return `${fullName(t)}.${camel}Entry`;
  }

  function parseMapEntry(
    t: protobuf.Type,
    f: protobuf.Field,
    close: string,
    depth: number,
  ): { key: ProtoValue; value: ProtoValue } {
    const keyType = keyTypeOf(f) ?? 'string';
    const keyField = { name: 'key', type: keyType, repeated: false, map: false } as unknown as protobuf.Field;
    let key: ProtoValue | undefined;
    let value: ProtoValue | undefined;
    const sub = messageOf(f);
    for (;;) {
      if (at(close)) {
        pos += 1;
        break;
      }
      const nameTok = peek();
      if (nameTok.kind === 'end') error(nameTok, `Expected "${close}".`);
      if (nameTok.kind !== 'ident') error(nameTok, `Expected identifier, got: ${quoted(nameTok)}`);
      pos += 1;
      if (nameTok.text === 'key') {
        if (key !== undefined) error(nameTok, 'Non-repeated field "key" is specified multiple times.');
        expect(':');
        key = parseScalar(keyField);
      } else if (nameTok.text === 'value') {
        if (value !== undefined) error(nameTok, 'Non-repeated field "value" is specified multiple times.');
        if (sub) {
          if (at(':')) pos += 1;
          const open = peek();
          if (!at('{') && !at('<')) error(open, `Expected "{", found "${quoted(open)}".`);
          pos += 1;
          value = parseMessage(sub, open.text === '{' ? '}' : '>', depth + 1);
        } else {
          expect(':');
          value = parseScalar(f);
        }
      } else {
        error(nameTok, `Message type "${entryTypeName(t, f)}" has no field named "${nameTok.text}".`);
      }
      if (at(';') || at(',')) pos += 1;
    }
    return {
      key: key ?? (isIntegerType(keyType) ? 0 : keyType === 'bool' ? false : ''),
      value: value ?? (sub ? {} : defaultScalar(f)),
    };
  }

  function addMapEntry(
    f: protobuf.Field,
    out: ProtoObject,
    entry: { key: ProtoValue; value: ProtoValue },
  ): void {
    const map = (out[f.name] as ProtoObject | undefined) ?? {};
    map[String(entry.key)] = entry.value;
    out[f.name] = map;
  }

  function parseScalar(f: protobuf.Field): ProtoValue {
    const e = enumOf(f);
    const tok = peek();
    if (e) {
      if (tok.kind === 'ident') {
        pos += 1;
        if (!Object.hasOwn(e.values, tok.text)) {
          error(tok, `Unknown enumeration value of "${tok.text}" for field "${f.name}".`);
        }
        return tok.text;
      }
      const negative = at('-');
      if (negative) pos += 1;
      const num = peek();
      if (num.kind !== 'int') error(num, `Expected integer or identifier, got: ${quoted(num)}`);
      pos += 1;
      const n = Number(num.text) * (negative ? -1 : 1);
      const name = e.valuesById[n];
      if (name === undefined) error(num, `Unknown enumeration value of "${num.text}" for field "${f.name}".`);
      return name!;
    }
    if (f.type === 'string' || f.type === 'bytes') {
      if (tok.kind !== 'string') error(tok, `Expected string, got: ${quoted(tok)}`);
      let value = '';
      while (peek().kind === 'string') value += next().value ?? '';
      return f.type === 'bytes' ? Buffer.from(value, 'latin1').toString('base64') : value;
    }
    if (f.type === 'bool') {
      pos += 1;
      if (tok.kind === 'ident' && ['true', 'True', 't'].includes(tok.text)) return true;
      if (tok.kind === 'ident' && ['false', 'False', 'f'].includes(tok.text)) return false;
      if (tok.kind === 'int' && (tok.text === '0' || tok.text === '1')) return tok.text === '1';
      return error(tok, `Invalid value for boolean field "${f.name}". Value: "${quoted(tok)}".`);
    }
    if (isIntegerType(f.type)) {
      const signed = INT32_TYPES.has(f.type) || INT64_TYPES.has(f.type);
      let negative = false;
      if (at('-')) {
        if (!signed) error(tok, `Expected integer, got: -`);
        negative = true;
        pos += 1;
      }
      const num = peek();
      if (num.kind !== 'int') error(num, `Expected integer, got: ${quoted(num)}`);
      pos += 1;
      const big = (negative ? -1n : 1n) * parseInteger(num.text);
      if (!integerInRange(f.type, big))
        error(num, `Integer out of range (${negative ? '-' : ''}${num.text})`);
      return Number(big);
    }
    if (FLOAT_TYPES.has(f.type)) {
      let negative = false;
      if (at('-')) {
        negative = true;
        pos += 1;
      }
      const num = peek();
      pos += 1;
      const sign = negative ? -1 : 1;
      if (num.kind === 'int') return sign * Number(parseInteger(num.text));
      if (num.kind === 'float') return sign * Number(num.text.replace(/[fF]$/, ''));
      if (num.kind === 'ident' && /^(inf|infinity)$/i.test(num.text)) return sign * Number.POSITIVE_INFINITY;
      if (num.kind === 'ident' && /^nan$/i.test(num.text)) return Number.NaN;
      return error(num, `Expected double, got: ${quoted(num)}`);
    }
    return error(tok, `Unsupported field type ${f.type} of "${f.name}".`);
  }

  return parseMessage(type, '', 0);
}

function parseInteger(text: string): bigint {
  if (/^0[xX]/.test(text)) return BigInt(text);
  if (/^0[0-7]+$/.test(text)) return BigInt(`0o${text.slice(1)}`);
  return BigInt(text);
}

function defaultScalar(f: protobuf.Field): ProtoValue {
  const e = enumOf(f);
  if (e) return e.valuesById[0] ?? 0;
  if (f.type === 'string' || f.type === 'bytes') return '';
  if (f.type === 'bool') return false;
  return 0;
}
