/**
 * Protobuf text format (the syntax of Triton's config.pbtxt), schema-free: a tokenizer, a parser to
 * an AST and a writer. Field types are unknown here, so scalars keep their lexical kind and the
 * schema-aware layer (config-codec.ts) decides what they mean.
 *
 * The input may come from anyone who can upload to the bucket, so parsing is bounded: input size
 * and nesting depth are capped, and every error names line:column and what was expected.
 */
import { PermanentError } from '../runtime/errors';

export interface Position {
  line: number;
  column: number;
}

export type PbScalar =
  | { kind: 'number'; value: number; text: string; pos: Position }
  | { kind: 'string'; value: string; pos: Position }
  /** Enum names, `true`/`false`, `inf`/`nan`. */
  | { kind: 'ident'; value: string; pos: Position };

export interface PbMessage {
  kind: 'message';
  fields: PbField[];
  pos: Position;
}

/** `key: [a, b]`: kept as one node so that an empty list still records the field's presence. */
export interface PbList {
  kind: 'list';
  items: Array<PbScalar | PbMessage>;
  pos: Position;
}

export type PbValue = PbScalar | PbMessage | PbList;

export interface PbField {
  name: string;
  value: PbValue;
  pos: Position;
}

export interface ParseLimits {
  maxBytes?: number;
  maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;

/** A syntax error (or a limit hit) in protobuf text; `line`/`column` are 1-based. */
export class PbtxtSyntaxError extends PermanentError {
  override name = 'PbtxtSyntaxError';
  readonly line: number;
  readonly column: number;

  constructor(pos: Position, message: string) {
    super('INVALID_PBTXT', `${pos.line}:${pos.column}: ${message}`, {
      details: { line: pos.line, column: pos.column },
    });
    this.line = pos.line;
    this.column = pos.column;
  }
}

type Token =
  | { type: 'ident'; text: string; pos: Position }
  | { type: 'number'; text: string; value: number; pos: Position }
  | { type: 'string'; value: string; pos: Position }
  | { type: 'punct'; text: string; pos: Position }
  | { type: 'eof'; pos: Position };

const PUNCT = new Set([':', '{', '}', '<', '>', '[', ']', ',', ';', '-']);
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;
const SIMPLE_ESCAPES: Record<string, number> = {
  n: 0x0a,
  t: 0x09,
  r: 0x0d,
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  v: 0x0b,
  '\\': 0x5c,
  "'": 0x27,
  '"': 0x22,
  '?': 0x3f,
};

class Lexer {
  #i = 0;
  #line = 1;
  #col = 1;
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  #pos(): Position {
    return { line: this.#line, column: this.#col };
  }

  #advance(n = 1): void {
    for (let k = 0; k < n; k++) {
      if (this.#text[this.#i] === '\n') {
        this.#line += 1;
        this.#col = 1;
      } else {
        this.#col += 1;
      }
      this.#i += 1;
    }
  }

  #skipSpaceAndComments(): void {
    for (;;) {
      const c = this.#text[this.#i];
      if (c === undefined) return;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
        this.#advance();
      } else if (c === '#') {
        while (this.#i < this.#text.length && this.#text[this.#i] !== '\n') this.#advance();
      } else {
        return;
      }
    }
  }

  next(): Token {
    this.#skipSpaceAndComments();
    const pos = this.#pos();
    const c = this.#text[this.#i];
    if (c === undefined) return { type: 'eof', pos };
    if (IDENT_START.test(c)) {
      const start = this.#i;
      while (this.#i < this.#text.length && IDENT_PART.test(this.#text[this.#i]!)) this.#advance();
      return { type: 'ident', text: this.#text.slice(start, this.#i), pos };
    }
    if (/[0-9.]/.test(c)) return this.#number(pos);
    if (c === '"' || c === "'") return this.#string(pos, c);
    if (PUNCT.has(c)) {
      this.#advance();
      return { type: 'punct', text: c, pos };
    }
    throw new PbtxtSyntaxError(pos, `unexpected character ${JSON.stringify(c)}`);
  }

  #number(pos: Position): Token {
    const start = this.#i;
    // Greedy over everything that could belong to a number, then judge the whole lexeme, so
    // `1.2.3` or `12abc` is one bad number rather than two confusing tokens.
    while (this.#i < this.#text.length) {
      const ch = this.#text[this.#i]!;
      const prev = this.#text[this.#i - 1];
      if (/[A-Za-z0-9_.]/.test(ch) || ((ch === '+' || ch === '-') && (prev === 'e' || prev === 'E'))) {
        this.#advance();
      } else {
        break;
      }
    }
    const text = this.#text.slice(start, this.#i);
    const value = parseNumberLexeme(text);
    if (value === undefined) throw new PbtxtSyntaxError(pos, `invalid number ${JSON.stringify(text)}`);
    return { type: 'number', text, value, pos };
  }

  #string(pos: Position, quote: string): Token {
    const bytes: number[] = [];
    this.#advance();
    for (;;) {
      const c = this.#text[this.#i];
      if (c === undefined || c === '\n') {
        throw new PbtxtSyntaxError(pos, 'unterminated string (expected a closing quote before end of line)');
      }
      if (c === quote) {
        this.#advance();
        break;
      }
      if (c === '\\') {
        this.#escape(bytes);
        continue;
      }
      const cp = this.#text.codePointAt(this.#i)!;
      const ch = String.fromCodePoint(cp);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      this.#advance(ch.length);
    }
    const decoder = new TextDecoder('utf-8', { fatal: true });
    try {
      return { type: 'string', value: decoder.decode(Uint8Array.from(bytes)), pos };
    } catch {
      throw new PbtxtSyntaxError(pos, 'string escapes do not form valid UTF-8');
    }
  }

  #escape(bytes: number[]): void {
    const at = this.#pos();
    const e = this.#text[this.#i + 1];
    if (e === undefined || e === '\n') throw new PbtxtSyntaxError(at, 'unterminated escape sequence');
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      bytes.push(simple);
      this.#advance(2);
      return;
    }
    if (/[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(this.#text.slice(this.#i + 1, this.#i + 4))![0];
      const v = Number.parseInt(m, 8);
      if (v > 0xff) throw new PbtxtSyntaxError(at, `octal escape \\${m} is over \\377`);
      bytes.push(v);
      this.#advance(1 + m.length);
      return;
    }
    if (e === 'x' || e === 'X') {
      const m = /^[0-9A-Fa-f]{1,2}/.exec(this.#text.slice(this.#i + 2, this.#i + 4));
      if (!m) throw new PbtxtSyntaxError(at, 'expected hex digits after \\x');
      bytes.push(Number.parseInt(m[0], 16));
      this.#advance(2 + m[0].length);
      return;
    }
    if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = this.#text.slice(this.#i + 2, this.#i + 2 + n);
      const cp = /^[0-9A-Fa-f]+$/.test(hex) && hex.length === n ? Number.parseInt(hex, 16) : Number.NaN;
      if (!(cp <= 0x10ffff) || (cp >= 0xd800 && cp <= 0xdfff)) {
        throw new PbtxtSyntaxError(at, `expected ${n} hex digits of a Unicode scalar value after \\${e}`);
      }
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
      this.#advance(2 + n);
      return;
    }
    throw new PbtxtSyntaxError(at, `unknown escape sequence \\${e}`);
  }
}

/** Decimal/hex/octal integers and decimal floats (optional `f` suffix), as protobuf accepts them. */
function parseNumberLexeme(text: string): number | undefined {
  if (/^0[xX][0-9A-Fa-f]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^0[0-7]+$/.test(text)) return Number.parseInt(text.slice(1), 8);
  if (/^(0|[1-9][0-9]*)$/.test(text)) return Number(text);
  const m = /^((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[fF]?$/.exec(text);
  if (m && /[.eEfF]/.test(text)) return Number(m[1]);
  return undefined;
}

class Parser {
  readonly #lexer: Lexer;
  readonly #maxDepth: number;
  #tok: Token;

  constructor(text: string, maxDepth: number) {
    this.#lexer = new Lexer(text);
    this.#maxDepth = maxDepth;
    this.#tok = this.#lexer.next();
  }

  #shift(): Token {
    const t = this.#tok;
    this.#tok = this.#lexer.next();
    return t;
  }

  #isPunct(text: string): boolean {
    return this.#tok.type === 'punct' && this.#tok.text === text;
  }

  #fail(expected: string): never {
    throw new PbtxtSyntaxError(this.#tok.pos, `expected ${expected}, found ${describe(this.#tok)}`);
  }

  parseDocument(): PbMessage {
    const fields = this.#fields(undefined, 1);
    if (this.#tok.type !== 'eof') this.#fail('a field name or end of input');
    return { kind: 'message', fields, pos: { line: 1, column: 1 } };
  }

  #fields(close: string | undefined, depth: number): PbField[] {
    const fields: PbField[] = [];
    for (;;) {
      if (this.#tok.type === 'eof') {
        if (close !== undefined) this.#fail(`'${close}'`);
        return fields;
      }
      if (close !== undefined && this.#isPunct(close)) return fields;
      if (this.#tok.type !== 'ident') {
        this.#fail(close === undefined ? 'a field name' : `a field name or '${close}'`);
      }
      const nameTok = this.#shift() as Extract<Token, { type: 'ident' }>;
      fields.push({ name: nameTok.text, value: this.#fieldValue(nameTok.text, depth), pos: nameTok.pos });
      if (this.#isPunct(',') || this.#isPunct(';')) this.#shift();
    }
  }

  #fieldValue(name: string, depth: number): PbValue {
    if (this.#isPunct(':')) {
      this.#shift();
      if (this.#isPunct('[')) return this.#list(depth, false);
      if (this.#isPunct('{') || this.#isPunct('<')) return this.#message(depth);
      return this.#scalar();
    }
    if (this.#isPunct('{') || this.#isPunct('<')) return this.#message(depth);
    // Without a colon only messages may follow, so a bare list must hold messages.
    if (this.#isPunct('[')) return this.#list(depth, true);
    this.#fail(`':' or '{' after field name '${name}'`);
  }

  #message(depth: number): PbMessage {
    if (depth + 1 > this.#maxDepth) {
      throw new PbtxtSyntaxError(this.#tok.pos, `nesting deeper than ${this.#maxDepth} levels`);
    }
    const open = this.#shift() as Extract<Token, { type: 'punct' }>;
    const close = open.text === '{' ? '}' : '>';
    const fields = this.#fields(close, depth + 1);
    this.#shift();
    return { kind: 'message', fields, pos: open.pos };
  }

  #list(depth: number, messagesOnly: boolean): PbList {
    const open = this.#shift();
    const items: Array<PbScalar | PbMessage> = [];
    if (this.#isPunct(']')) {
      this.#shift();
      return { kind: 'list', items, pos: open.pos };
    }
    for (;;) {
      if (this.#isPunct('{') || this.#isPunct('<')) items.push(this.#message(depth));
      else if (messagesOnly) this.#fail("'{' (a list without ':' holds messages)");
      else items.push(this.#scalar());
      if (this.#isPunct(',')) {
        this.#shift();
        continue;
      }
      if (this.#isPunct(']')) {
        this.#shift();
        return { kind: 'list', items, pos: open.pos };
      }
      this.#fail("',' or ']'");
    }
  }

  #scalar(): PbScalar {
    const t = this.#tok;
    if (t.type === 'punct' && t.text === '-') {
      this.#shift();
      const n = this.#tok;
      if (n.type === 'number') {
        this.#shift();
        return { kind: 'number', value: -n.value, text: `-${n.text}`, pos: t.pos };
      }
      if (n.type === 'ident' && /^(inf|infinity)$/i.test(n.text)) {
        this.#shift();
        return { kind: 'number', value: Number.NEGATIVE_INFINITY, text: `-${n.text}`, pos: t.pos };
      }
      this.#fail("a number after '-'");
    }
    if (t.type === 'number') {
      this.#shift();
      return { kind: 'number', value: t.value, text: t.text, pos: t.pos };
    }
    if (t.type === 'ident') {
      this.#shift();
      return { kind: 'ident', value: t.text, pos: t.pos };
    }
    if (t.type === 'string') {
      this.#shift();
      let value = t.value;
      // Adjacent string literals concatenate, as in C.
      while (this.#tok.type === 'string')
        value += (this.#shift() as Extract<Token, { type: 'string' }>).value;
      return { kind: 'string', value, pos: t.pos };
    }
    this.#fail('a value (number, string, identifier, message or list)');
  }
}

function describe(t: Token): string {
  switch (t.type) {
    case 'eof':
      return 'end of input';
    case 'ident':
      return `identifier '${t.text}'`;
    case 'number':
      return `number ${t.text}`;
    case 'string':
      return `string ${JSON.stringify(t.value.length > 40 ? `${t.value.slice(0, 40)}...` : t.value)}`;
    case 'punct':
      return `'${t.text}'`;
  }
}

/** Parses protobuf text into a root message. Throws PbtxtSyntaxError. */
export function parsePbtxt(text: string, limits: ParseLimits = {}): PbMessage {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) {
    throw new PbtxtSyntaxError(
      { line: 1, column: 1 },
      `input is ${size} bytes, over the ${maxBytes}-byte limit`,
    );
  }
  return new Parser(text, limits.maxDepth ?? DEFAULT_MAX_DEPTH).parseDocument();
}

// ---- writer ----------------------------------------------------------------------------------

/** What the writer takes: positions are irrelevant, and numbers need no source text. */
export type WScalar =
  | { kind: 'number'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ident'; value: string };
export interface WMessage {
  kind: 'message';
  fields: WField[];
}
export interface WList {
  kind: 'list';
  items: Array<WScalar | WMessage>;
}
export interface WField {
  name: string;
  value: WScalar | WMessage | WList;
}

/** Canonical text: one field per line, 2-space indent, scalar lists inline, messages as blocks. */
export function writePbtxt(root: WMessage): string {
  const lines: string[] = [];
  writeFields(root.fields, 0, lines);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function writeFields(fields: WField[], indent: number, lines: string[]): void {
  const pad = '  '.repeat(indent);
  for (const f of fields) {
    const v = f.value;
    if (v.kind === 'message') {
      writeMessage(`${pad}${f.name} `, v, indent, lines, '');
    } else if (v.kind === 'list') {
      if (v.items.length === 0) {
        lines.push(`${pad}${f.name}: []`);
      } else if (v.items.every((i) => i.kind !== 'message')) {
        lines.push(`${pad}${f.name}: [ ${v.items.map((i) => writeScalar(i as WScalar)).join(', ')} ]`);
      } else {
        lines.push(`${pad}${f.name} [`);
        v.items.forEach((item, k) => {
          const sep = k < v.items.length - 1 ? ',' : '';
          if (item.kind === 'message') writeMessage(`${pad}  `, item, indent + 1, lines, sep);
          else lines.push(`${pad}  ${writeScalar(item)}${sep}`);
        });
        lines.push(`${pad}]`);
      }
    } else {
      lines.push(`${pad}${f.name}: ${writeScalar(v)}`);
    }
  }
}

function writeMessage(head: string, m: WMessage, indent: number, lines: string[], suffix: string): void {
  if (m.fields.length === 0) {
    lines.push(`${head}{}${suffix}`);
    return;
  }
  lines.push(`${head}{`);
  writeFields(m.fields, indent + 1, lines);
  lines.push(`${'  '.repeat(indent)}}${suffix}`);
}

function writeScalar(s: WScalar): string {
  switch (s.kind) {
    case 'ident':
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.value)) throw new Error(`not an identifier: ${s.value}`);
      return s.value;
    case 'number':
      if (Number.isNaN(s.value)) return 'nan';
      if (!Number.isFinite(s.value)) return s.value > 0 ? 'inf' : '-inf';
      return String(s.value);
    case 'string':
      return quote(s.value);
  }
}

/** Double-quoted, with escapes for quotes, backslashes and control characters; other UTF-8 stays. */
export function quote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += `\\${cp.toString(8).padStart(3, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) throw new Error('lone surrogate cannot be written as UTF-8');
    else out += ch;
  }
  return `${out}"`;
}
