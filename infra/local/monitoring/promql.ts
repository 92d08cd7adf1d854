/**
 * The PromQL subset alert conditions on Triton use, evaluated over the stored
 * `prometheus.googleapis.com/...` series at one instant: selectors with `=`, `!=`, `=~`, `!~`
 * matchers, range selectors, `rate`/`irate`/`increase`, `sum`/`avg`/`max`/`min`/`count` with
 * `by`/`without`, `clamp_min`/`clamp_max`/`abs`, `+ - * /` (one-to-one on identical label sets,
 * or with a scalar) and comparisons that filter (`> N`). Resource labels (`namespace`, `job`,
 * `instance`, `cluster`, `location`, `project_id`) are labels, as in GMP.
 */
import { invalidArgument } from './errors';
import type { MetricStore, Series } from './store';
import { numericValue } from './types';

type Matcher = { name: string; op: '=' | '!=' | '=~' | '!~'; value: string };

type Expr =
  | { k: 'num'; v: number }
  | { k: 'sel'; name: string | undefined; matchers: Matcher[]; rangeMs?: number }
  | { k: 'fn'; fn: string; args: Expr[] }
  | { k: 'agg'; op: string; by?: string[]; without?: string[]; arg: Expr }
  | { k: 'bin'; op: string; bool: boolean; lhs: Expr; rhs: Expr }
  | { k: 'neg'; arg: Expr };

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

type Value = { t: 'scalar'; v: number } | { t: 'vector'; v: Sample[] };

export class PromQLError extends Error {
  override name = 'PromQLError';
}

const FUNCTIONS = ['rate', 'irate', 'increase', 'clamp_min', 'clamp_max', 'abs'];
const AGGREGATIONS = ['sum', 'avg', 'max', 'min', 'count'];
const COMPARE = ['>', '<', '>=', '<=', '==', '!='];
const LOOKBACK_MS = 5 * 60_000;

// ---- lexer ----

type Tok = { t: 'num' | 'id' | 'str' | 'dur' | 'op'; v: string };

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const rest = src.slice(i);
    const ws = /^\s+/.exec(rest);
    if (ws) {
      i += ws[0].length;
      continue;
    }
    const dur = /^\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*\]/.exec(rest);
    if (dur) {
      out.push({ t: 'dur', v: dur[1] as string });
      i += dur[0].length;
      continue;
    }
    const num = /^(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|Inf|NaN)/.exec(rest);
    if (num && !/^[a-zA-Z_:]/.test(rest.replace(/^(Inf|NaN)/, ''))) {
      out.push({ t: 'num', v: num[0] });
      i += num[0].length;
      continue;
    }
    const id = /^[a-zA-Z_:][a-zA-Z0-9_:.]*/.exec(rest);
    if (id) {
      out.push({ t: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    if (rest[0] === '"' || rest[0] === "'") {
      const q = rest[0];
      let j = 1;
      let v = '';
      while (j < rest.length && rest[j] !== q) {
        if (rest[j] === '\\' && j + 1 < rest.length) {
          const e = rest[j + 1] as string;
          v += e === 'n' ? '\n' : e;
          j += 2;
          continue;
        }
        v += rest[j];
        j += 1;
      }
      if (j >= rest.length) throw new PromQLError('unterminated string');
      out.push({ t: 'str', v });
      i += j + 1;
      continue;
    }
    const op = /^(?:=~|!~|==|!=|>=|<=|[-+*/(){},=<>])/.exec(rest);
    if (op) {
      out.push({ t: 'op', v: op[0] });
      i += op[0].length;
      continue;
    }
    throw new PromQLError(`unexpected character '${rest[0]}'`);
  }
  return out;
}

function durationMs(s: string): number {
  const units: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31536e6 };
  let total = 0;
  for (const m of s.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += Number(m[1]) * (units[m[2] as string] ?? 0);
  return total;
}

// ---- parser ----

export function parsePromQL(src: string): Expr {
  const toks = lex(src);
  let p = 0;
  const peek = () => toks[p];
  const isOp = (v: string) => peek()?.t === 'op' && peek()?.v === v;
  const take = () => {
    const t = toks[p];
    if (!t) throw new PromQLError('unexpected end of query');
    p += 1;
    return t;
  };
  const expect = (v: string) => {
    const t = take();
    if (t.t !== 'op' || t.v !== v) throw new PromQLError(`expected '${v}', found '${t.v}'`);
  };
  const labelList = (): string[] => {
    expect('(');
    const out: string[] = [];
    while (!isOp(')')) {
      const t = take();
      if (t.t !== 'id') throw new PromQLError('expected a label name');
      out.push(t.v);
      if (isOp(',')) p += 1;
    }
    p += 1;
    return out;
  };
  const matchers = (): Matcher[] => {
    expect('{');
    const out: Matcher[] = [];
    while (!isOp('}')) {
      const name = take();
      if (name.t !== 'id') throw new PromQLError('expected a label name in a matcher');
      const op = take();
      if (op.t !== 'op' || !['=', '!=', '=~', '!~'].includes(op.v))
        throw new PromQLError('expected a matcher operator');
      const value = take();
      if (value.t !== 'str') throw new PromQLError('expected a quoted label value');
      if (op.v === '=~' || op.v === '!~') {
        try {
          new RegExp(value.v);
        } catch {
          throw new PromQLError(`bad regular expression ${JSON.stringify(value.v)}`);
        }
      }
      out.push({ name: name.v, op: op.v as Matcher['op'], value: value.v });
      if (isOp(',')) p += 1;
    }
    p += 1;
    return out;
  };
  const withRange = (e: Expr & { k: 'sel' }): Expr => {
    const t = peek();
    if (t?.t === 'dur') {
      p += 1;
      return { ...e, rangeMs: durationMs(t.v) };
    }
    return e;
  };
  const primary = (): Expr => {
    const t = take();
    if (t.t === 'num') return { k: 'num', v: Number(t.v === 'Inf' ? Number.POSITIVE_INFINITY : t.v) };
    if (t.t === 'op' && t.v === '(') {
      const e = expr();
      expect(')');
      return e;
    }
    if (t.t === 'op' && t.v === '{') {
      p -= 1;
      return withRange({ k: 'sel', name: undefined, matchers: matchers() });
    }
    if (t.t !== 'id') throw new PromQLError(`unexpected '${t.v}'`);
    if (AGGREGATIONS.includes(t.v) && (isOp('(') || peek()?.v === 'by' || peek()?.v === 'without')) {
      let by: string[] | undefined;
      let without: string[] | undefined;
      const clause = () => {
        if (peek()?.v === 'by') {
          p += 1;
          by = labelList();
        } else if (peek()?.v === 'without') {
          p += 1;
          without = labelList();
        }
      };
      clause();
      expect('(');
      const arg = expr();
      expect(')');
      clause();
      return { k: 'agg', op: t.v, ...(by ? { by } : {}), ...(without ? { without } : {}), arg };
    }
    if (isOp('(')) {
      if (!FUNCTIONS.includes(t.v)) throw new PromQLError(`unsupported function ${t.v}`);
      p += 1;
      const args: Expr[] = [];
      while (!isOp(')')) {
        args.push(expr());
        if (isOp(',')) p += 1;
        else if (!isOp(')')) throw new PromQLError(`expected ',' or ')' in ${t.v}()`);
      }
      p += 1;
      return { k: 'fn', fn: t.v, args };
    }
    const ms = isOp('{') ? matchers() : [];
    return withRange({ k: 'sel', name: t.v, matchers: ms });
  };
  const unary = (): Expr => {
    if (isOp('-')) {
      p += 1;
      return { k: 'neg', arg: unary() };
    }
    if (isOp('+')) p += 1;
    return primary();
  };
  const binary = (next: () => Expr, ops: string[]) => (): Expr => {
    let lhs = next();
    while (peek()?.t === 'op' && ops.includes(peek()?.v as string)) {
      const op = take().v;
      let bool = false;
      if (peek()?.t === 'id' && peek()?.v === 'bool') {
        p += 1;
        bool = true;
      }
      lhs = { k: 'bin', op, bool, lhs, rhs: next() };
    }
    return lhs;
  };
  const mul = binary(unary, ['*', '/']);
  const add = binary(mul, ['+', '-']);
  const expr: () => Expr = binary(add, COMPARE);
  const e = expr();
  if (p !== toks.length) throw new PromQLError(`unexpected '${toks[p]?.v}'`);
  return e;
}

// ---- evaluation ----

export interface PromQLContext {
  store: MetricStore;
  project: string;
  atMs: number;
}

/** Evaluates a query at one instant; a scalar result comes back as one sample without labels. */
export function evaluatePromQL(query: string | Expr, ctx: PromQLContext): Sample[] {
  let expr: Expr;
  try {
    expr = typeof query === 'string' ? parsePromQL(query) : query;
  } catch (err) {
    throw invalidArgument(`Invalid PromQL query: ${(err as Error).message}`);
  }
  const v = evaluate(expr, ctx);
  return v.t === 'scalar' ? [{ labels: {}, value: v.v }] : v.v;
}

function seriesLabels(s: Series, name: string): Record<string, string> {
  return { ...s.resource.labels, ...s.metric.labels, __name__: name };
}

function matchAll(labels: Record<string, string>, ms: Matcher[]): boolean {
  return ms.every((m) => {
    const v = labels[m.name] ?? '';
    if (m.op === '=') return v === m.value;
    if (m.op === '!=') return v !== m.value;
    const re = new RegExp(`^(?:${m.value})$`);
    return m.op === '=~' ? re.test(v) : !re.test(v);
  });
}

const GAUGE_FIRST = ['gauge', 'unknown', 'counter', 'summary', 'unknown:counter'];
const COUNTER_FIRST = ['counter', 'unknown:counter', 'summary', 'gauge', 'unknown'];

/** The stored series of a selector: the metric name's first kind that has any series. */
function select(
  e: Expr & { k: 'sel' },
  ctx: PromQLContext,
  counter: boolean,
): { s: Series; labels: Record<string, string> }[] {
  const nameMatcher = e.matchers.find((m) => m.name === '__name__' && m.op === '=');
  const name = e.name ?? nameMatcher?.value;
  if (!name) throw invalidArgument('Invalid PromQL query: a selector needs a metric name');
  const all = ctx.store.select(ctx.project, undefined);
  for (const kind of counter ? COUNTER_FIRST : GAUGE_FIRST) {
    const type = `prometheus.googleapis.com/${name}/${kind}`;
    const found = all
      .filter((s) => s.metric.type === type)
      .map((s) => ({ s, labels: seriesLabels(s, name) }))
      .filter(({ labels }) => matchAll(labels, e.matchers));
    if (found.length > 0) return found;
  }
  return [];
}

function dropName(l: Record<string, string>): Record<string, string> {
  const { __name__: _, ...rest } = l;
  return rest;
}

function key(l: Record<string, string>): string {
  return JSON.stringify(
    Object.keys(l)
      .sort()
      .map((k) => [k, l[k]]),
  );
}

function evaluate(e: Expr, ctx: PromQLContext): Value {
  switch (e.k) {
    case 'num':
      return { t: 'scalar', v: e.v };
    case 'neg': {
      const v = evaluate(e.arg, ctx);
      return v.t === 'scalar'
        ? { t: 'scalar', v: -v.v }
        : { t: 'vector', v: v.v.map((s) => ({ labels: dropName(s.labels), value: -s.value })) };
    }
    case 'sel': {
      if (e.rangeMs !== undefined)
        throw invalidArgument(
          'Invalid PromQL query: a range vector must be the argument of rate(), irate() or increase()',
        );
      const out: Sample[] = [];
      for (const { s, labels } of select(e, ctx, false)) {
        const p = s.points.filter((pt) => pt.endMs <= ctx.atMs && pt.endMs > ctx.atMs - LOOKBACK_MS).at(-1);
        if (p) out.push({ labels, value: numericValue(p.value) });
      }
      return { t: 'vector', v: out };
    }
    case 'fn':
      return evalFunction(e, ctx);
    case 'agg': {
      const v = evaluate(e.arg, ctx);
      if (v.t !== 'vector') throw invalidArgument(`Invalid PromQL query: ${e.op}() expects a vector`);
      const groups = new Map<string, { labels: Record<string, string>; values: number[] }>();
      for (const s of v.v) {
        const base = dropName(s.labels);
        const labels: Record<string, string> = {};
        if (e.by) {
          for (const l of e.by) if (base[l] !== undefined) labels[l] = base[l] as string;
        } else if (e.without) {
          for (const [k, val] of Object.entries(base)) if (!e.without.includes(k)) labels[k] = val;
        }
        const g = groups.get(key(labels)) ?? { labels, values: [] };
        g.values.push(s.value);
        groups.set(key(labels), g);
      }
      const reduce = (vals: number[]): number => {
        switch (e.op) {
          case 'sum':
            return vals.reduce((a, b) => a + b, 0);
          case 'avg':
            return vals.reduce((a, b) => a + b, 0) / vals.length;
          case 'max':
            return Math.max(...vals);
          case 'min':
            return Math.min(...vals);
          default:
            return vals.length;
        }
      };
      return {
        t: 'vector',
        v: [...groups.values()].map((g) => ({ labels: g.labels, value: reduce(g.values) })),
      };
    }
    case 'bin':
      return evalBinary(e, ctx);
  }
}

function evalFunction(e: Expr & { k: 'fn' }, ctx: PromQLContext): Value {
  if (e.fn === 'rate' || e.fn === 'irate' || e.fn === 'increase') {
    const arg = e.args[0];
    if (e.args.length !== 1 || arg?.k !== 'sel' || arg.rangeMs === undefined) {
      throw invalidArgument(`Invalid PromQL query: ${e.fn}() expects a range vector`);
    }
    const rangeMs = arg.rangeMs;
    const out: Sample[] = [];
    for (const { s, labels } of select(arg, ctx, true)) {
      const pts = s.points.filter((p) => p.endMs <= ctx.atMs && p.endMs > ctx.atMs - rangeMs);
      if (pts.length < 2) continue;
      const used = e.fn === 'irate' ? pts.slice(-2) : pts;
      let increase = 0;
      for (let i = 1; i < used.length; i++) {
        const prev = numericValue((used[i - 1] as (typeof used)[number]).value);
        const cur = numericValue((used[i] as (typeof used)[number]).value);
        increase += cur >= prev ? cur - prev : cur;
      }
      const spanSec = ((used.at(-1)?.endMs ?? 0) - (used[0]?.endMs ?? 0)) / 1000;
      if (spanSec <= 0) continue;
      const value = e.fn === 'increase' ? (increase / spanSec) * (rangeMs / 1000) : increase / spanSec;
      out.push({ labels: dropName(labels), value });
    }
    return { t: 'vector', v: out };
  }
  const [a, b] = e.args;
  if (!a) throw invalidArgument(`Invalid PromQL query: ${e.fn}() needs an argument`);
  const v = evaluate(a, ctx);
  if (v.t !== 'vector') throw invalidArgument(`Invalid PromQL query: ${e.fn}() expects a vector`);
  let f: (x: number) => number;
  if (e.fn === 'abs') {
    f = Math.abs;
  } else {
    const bound = b ? evaluate(b, ctx) : undefined;
    if (bound?.t !== 'scalar')
      throw invalidArgument(`Invalid PromQL query: ${e.fn}() expects a scalar bound`);
    f = e.fn === 'clamp_min' ? (x) => Math.max(x, bound.v) : (x) => Math.min(x, bound.v);
  }
  return { t: 'vector', v: v.v.map((s) => ({ labels: dropName(s.labels), value: f(s.value) })) };
}

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    default:
      return Number.NaN;
  }
}

function compare(op: string, a: number, b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '<':
      return a < b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
    default:
      return a !== b;
  }
}

function evalBinary(e: Expr & { k: 'bin' }, ctx: PromQLContext): Value {
  const l = evaluate(e.lhs, ctx);
  const r = evaluate(e.rhs, ctx);
  const isCmp = COMPARE.includes(e.op);
  if (l.t === 'scalar' && r.t === 'scalar') {
    if (isCmp && !e.bool)
      throw invalidArgument('Invalid PromQL query: comparisons between scalars must use bool');
    return { t: 'scalar', v: isCmp ? Number(compare(e.op, l.v, r.v)) : arith(e.op, l.v, r.v) };
  }
  const apply = (a: Sample, av: number, bv: number): Sample | undefined => {
    if (!isCmp) return { labels: dropName(a.labels), value: arith(e.op, av, bv) };
    const ok = compare(e.op, av, bv);
    if (e.bool) return { labels: dropName(a.labels), value: Number(ok) };
    return ok ? { labels: a.labels, value: a.value } : undefined;
  };
  if (l.t === 'vector' && r.t === 'scalar') {
    return { t: 'vector', v: l.v.flatMap((s) => apply(s, s.value, r.v) ?? []) };
  }
  if (l.t === 'scalar' && r.t === 'vector') {
    return {
      t: 'vector',
      v: r.v.flatMap((s) => {
        const out = apply(s, l.v, s.value);
        return out ? [{ ...out, value: isCmp && !e.bool ? s.value : out.value }] : [];
      }),
    };
  }
  if (l.t !== 'vector' || r.t !== 'vector') return { t: 'vector', v: [] };
  const right = new Map(r.v.map((s) => [key(dropName(s.labels)), s]));
  return {
    t: 'vector',
    v: l.v.flatMap((s) => {
      const m = right.get(key(dropName(s.labels)));
      return m ? (apply(s, s.value, m.value) ?? []) : [];
    }),
  };
}
