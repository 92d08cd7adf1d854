/**
 * The Cloud Monitoring filter language (the subset users write): selectors `metric.type`,
 * `metric.labels.K` (or `metric.label.K`), `resource.type`, `resource.labels.K`, `project`,
 * `metadata.user_labels.K`, `metadata.system_labels.K`; operators `=`, `!=` and `:` (has
 * substring); values as strings, bare words, or `starts_with`, `ends_with`, `has_substring`,
 * `one_of` and `monitoring.regex.full_match`; `AND` (or juxtaposition), `OR`, `NOT`/`-`, parens.
 */
import { invalidField } from './errors';

export interface FilterSubject {
  project?: string;
  metric?: { type: string; labels: Record<string, string> };
  resource?: { type: string; labels: Record<string, string> };
  metadata?: { userLabels?: Record<string, string>; systemLabels?: Record<string, string> };
}

type Matcher =
  | { fn: 'equals'; values: string[] }
  | { fn: 'starts_with' | 'ends_with' | 'has_substring'; values: string[] }
  | { fn: 'regex'; regex: RegExp };

export type FilterNode =
  | { kind: 'and' | 'or'; children: FilterNode[] }
  | { kind: 'not'; child: FilterNode }
  | { kind: 'cmp'; selector: string[]; op: '=' | '!=' | ':'; matcher: Matcher };

type Token =
  | { t: 'str'; v: string }
  | { t: 'word'; v: string }
  | { t: 'op'; v: '=' | '!=' | ':' | '(' | ')' | ',' | '.' | '-' };

function tokenize(src: string, fail: (why: string) => Error): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '"' || c === "'") {
      let v = '';
      i += 1;
      while (i < src.length && src.charAt(i) !== c) {
        if (src.charAt(i) === '\\' && i + 1 < src.length) i += 1;
        v += src.charAt(i);
        i += 1;
      }
      if (i >= src.length) throw fail('unterminated string');
      i += 1;
      out.push({ t: 'str', v });
    } else if (c === '!' && src.charAt(i + 1) === '=') {
      out.push({ t: 'op', v: '!=' });
      i += 2;
    } else if ('=:(),.-'.includes(c)) {
      out.push({ t: 'op', v: c as '=' | ':' | '(' | ')' | ',' | '.' | '-' });
      i += 1;
    } else if (/[A-Za-z0-9_/*]/.test(c)) {
      let v = '';
      while (i < src.length && /[A-Za-z0-9_/*]/.test(src.charAt(i))) {
        v += src.charAt(i);
        i += 1;
      }
      out.push({ t: 'word', v });
    } else {
      throw fail(`unexpected character '${c}'`);
    }
  }
  return out;
}

const FUNCTIONS = ['starts_with', 'ends_with', 'has_substring', 'one_of', 'monitoring.regex.full_match'];

/** Parses a filter; an empty filter is `undefined` (matches everything). */
export function parseFilter(src: string, field = 'filter'): FilterNode | undefined {
  const fail = (why: string) => invalidField(field, `The filter could not be parsed (${why}).`, src);
  const tokens = tokenize(src, fail);
  if (tokens.length === 0) return undefined;
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isOp = (v: string) => peek()?.t === 'op' && peek()?.v === v;
  const isWord = (v: string) => peek()?.t === 'word' && peek()?.v === v;
  const expect = (v: string) => {
    if (!isOp(v)) throw fail(`expected '${v}'`);
    pos += 1;
  };

  const parseOr = (): FilterNode => {
    const children = [parseAnd()];
    while (isWord('OR')) {
      pos += 1;
      children.push(parseAnd());
    }
    return children.length === 1 ? (children[0] as FilterNode) : { kind: 'or', children };
  };
  const startsTerm = (): boolean => {
    const t = peek();
    if (!t) return false;
    if (t.t === 'word') return t.v !== 'OR' && t.v !== 'AND';
    return t.v === '(' || t.v === '-';
  };
  const parseAnd = (): FilterNode => {
    const children = [parseUnary()];
    for (;;) {
      if (isWord('AND')) {
        pos += 1;
        children.push(parseUnary());
      } else if (startsTerm()) {
        children.push(parseUnary());
      } else {
        break;
      }
    }
    return children.length === 1 ? (children[0] as FilterNode) : { kind: 'and', children };
  };
  const parseUnary = (): FilterNode => {
    if (isWord('NOT') || isOp('-')) {
      pos += 1;
      return { kind: 'not', child: parseUnary() };
    }
    if (isOp('(')) {
      pos += 1;
      const inner = parseOr();
      expect(')');
      return inner;
    }
    return parseComparison();
  };
  const parseDotted = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      const t = peek();
      if (!t || (t.t !== 'word' && t.t !== 'str')) throw fail('expected a name');
      parts.push(t.v);
      pos += 1;
      if (!isOp('.')) return parts;
      pos += 1;
    }
  };
  const parseValue = (): Matcher => {
    const t = peek();
    if (!t) throw fail('expected a value');
    if (t.t === 'str') {
      pos += 1;
      return { fn: 'equals', values: [t.v] };
    }
    if (t.t !== 'word') throw fail('expected a value');
    const name = parseDotted().join('.');
    if (!isOp('(')) return { fn: 'equals', values: [name] };
    if (!FUNCTIONS.includes(name)) throw fail(`unknown function ${name}`);
    pos += 1;
    const args: string[] = [];
    while (!isOp(')')) {
      const a = peek();
      if (!a || (a.t !== 'str' && a.t !== 'word')) throw fail(`bad argument to ${name}`);
      args.push(a.v);
      pos += 1;
      if (isOp(',')) pos += 1;
      else if (!isOp(')')) throw fail(`expected ',' or ')' in ${name}`);
    }
    pos += 1;
    if (name === 'one_of') return { fn: 'equals', values: args };
    if (args.length !== 1) throw fail(`${name} takes one argument`);
    const arg = args[0] as string;
    if (name === 'monitoring.regex.full_match') {
      try {
        return { fn: 'regex', regex: new RegExp(`^(?:${arg})$`) };
      } catch {
        throw fail(`bad regular expression ${arg}`);
      }
    }
    return { fn: name as 'starts_with' | 'ends_with' | 'has_substring', values: [arg] };
  };
  const parseComparison = (): FilterNode => {
    const selector = normaliseSelector(parseDotted(), fail);
    const t = peek();
    if (t?.t !== 'op' || (t.v !== '=' && t.v !== '!=' && t.v !== ':')) throw fail('expected =, != or :');
    pos += 1;
    let matcher = parseValue();
    if (t.v === ':' && matcher.fn === 'equals') matcher = { fn: 'has_substring', values: matcher.values };
    return { kind: 'cmp', selector, op: t.v, matcher };
  };

  const node = parseOr();
  if (pos !== tokens.length) throw fail('unexpected trailing input');
  return node;
}

function normaliseSelector(parts: string[], fail: (why: string) => Error): string[] {
  const [head, second, ...rest] = parts;
  if (head === 'project' && parts.length === 1) return ['project'];
  if ((head === 'metric' || head === 'resource') && second === 'type' && rest.length === 0)
    return [head, 'type'];
  if (
    (head === 'metric' || head === 'resource') &&
    (second === 'labels' || second === 'label') &&
    rest.length > 0
  ) {
    return [head, 'labels', rest.join('.')];
  }
  if (head === 'metadata' && (second === 'user_labels' || second === 'system_labels') && rest.length > 0) {
    return [head, second, rest.join('.')];
  }
  throw fail(`unsupported selector ${parts.join('.')}`);
}

function lookup(subject: FilterSubject, selector: string[]): string | undefined {
  const [head, second, key] = selector;
  if (head === 'project') return subject.project;
  if (head === 'metric' || head === 'resource') {
    const part = subject[head];
    if (!part) return undefined;
    return second === 'type' ? part.type : part.labels[key as string];
  }
  if (head === 'metadata') {
    const labels = second === 'user_labels' ? subject.metadata?.userLabels : subject.metadata?.systemLabels;
    return labels?.[key as string];
  }
  return undefined;
}

function test(matcher: Matcher, value: string): boolean {
  switch (matcher.fn) {
    case 'equals':
      return matcher.values.includes(value);
    case 'starts_with':
      return value.startsWith(matcher.values[0] as string);
    case 'ends_with':
      return value.endsWith(matcher.values[0] as string);
    case 'has_substring':
      return value.includes(matcher.values[0] as string);
    case 'regex':
      return matcher.regex.test(value);
  }
}

export function matchesFilter(node: FilterNode | undefined, subject: FilterSubject): boolean {
  if (!node) return true;
  switch (node.kind) {
    case 'and':
      return node.children.every((c) => matchesFilter(c, subject));
    case 'or':
      return node.children.some((c) => matchesFilter(c, subject));
    case 'not':
      return !matchesFilter(node.child, subject);
    case 'cmp': {
      const value = lookup(subject, node.selector);
      const hit = value !== undefined && test(node.matcher, value);
      return node.op === '!=' ? !hit : hit;
    }
  }
}

/** Whether the filter restricts `metric.type` anywhere (the API requires it for timeSeries.list). */
export function mentionsMetricType(node: FilterNode | undefined): boolean {
  if (!node) return false;
  if (node.kind === 'cmp') return node.selector[0] === 'metric' && node.selector[1] === 'type';
  if (node.kind === 'not') return mentionsMetricType(node.child);
  return node.children.some(mentionsMetricType);
}
