/**
 * A parser for the Prometheus text exposition format (0.0.4): `# HELP` / `# TYPE` lines, samples
 * `name{label="value",...} value [timestamp_ms]` with escaped label values (`\\`, `\"`, `\n`),
 * values as floats, `NaN`, `+Inf`, `-Inf`. Samples are grouped into families: a histogram's
 * `_bucket`/`_sum`/`_count` and a summary's `_sum`/`_count` belong to the family of the base name.
 */

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface PromFamily {
  name: string;
  type: PromType;
  help?: string;
  samples: PromSample[];
}

export class PromParseError extends Error {
  override name = 'PromParseError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

export function parsePrometheusText(text: string): PromFamily[] {
  const families = new Map<string, PromFamily>();
  const family = (name: string): PromFamily => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const n = index + 1;
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/.exec(line);
      if (!m) return; // an ordinary comment
      const [, kw, name, rest = ''] = m as unknown as [string, string, string, string | undefined];
      if (kw === 'HELP') {
        family(name).help = unescapeHelp(rest);
      } else {
        const t = rest.trim();
        if (!TYPES.includes(t)) throw new PromParseError(n, `unknown metric type "${t}"`);
        const f = family(name);
        if (f.samples.length > 0) throw new PromParseError(n, `TYPE for ${name} after its samples`);
        f.type = t as PromType;
      }
      return;
    }
    const sample = parseSample(line, n);
    family(familyOf(sample.name, families)).samples.push(sample);
  });
  return [...families.values()].filter((f) => f.samples.length > 0);
}

function familyOf(sampleName: string, families: Map<string, PromFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const f = families.get(base);
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  return sampleName;
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

function parseSample(line: string, n: number): PromSample {
  let pos = 0;
  const nameMatch = NAME.exec(line);
  if (!nameMatch) throw new PromParseError(n, 'expected a metric name');
  const name = nameMatch[0];
  pos = name.length;
  const labels: Record<string, string> = {};
  if (line.charAt(pos) === '{') {
    pos += 1;
    for (;;) {
      while (line.charAt(pos) === ' ') pos += 1;
      if (line.charAt(pos) === '}') {
        pos += 1;
        break;
      }
      const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
      if (!lm) throw new PromParseError(n, 'expected a label name');
      const key = lm[0];
      pos += key.length;
      while (line.charAt(pos) === ' ') pos += 1;
      if (line.charAt(pos) !== '=') throw new PromParseError(n, `expected '=' after label ${key}`);
      pos += 1;
      while (line.charAt(pos) === ' ') pos += 1;
      if (line.charAt(pos) !== '"') throw new PromParseError(n, `expected '"' for label ${key}`);
      pos += 1;
      let value = '';
      for (;;) {
        if (pos >= line.length) throw new PromParseError(n, `unterminated value of label ${key}`);
        const c = line.charAt(pos);
        if (c === '"') {
          pos += 1;
          break;
        }
        if (c === '\\') {
          const e = line.charAt(pos + 1);
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw new PromParseError(n, `bad escape \\${e} in label ${key}`);
          pos += 2;
          continue;
        }
        value += c;
        pos += 1;
      }
      if (Object.hasOwn(labels, key)) throw new PromParseError(n, `duplicate label ${key}`);
      labels[key] = value;
      while (line.charAt(pos) === ' ') pos += 1;
      if (line.charAt(pos) === ',') {
        pos += 1;
      } else if (line.charAt(pos) !== '}') {
        throw new PromParseError(n, "expected ',' or '}' in labels");
      }
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new PromParseError(n, 'expected a value');
  const value = parseValue(rest[0] as string, n);
  const sample: PromSample = { name, labels, value };
  if (rest[1] !== undefined) {
    if (!/^-?\d+$/.test(rest[1])) throw new PromParseError(n, `bad timestamp ${rest[1]}`);
    sample.timestampMs = Number(rest[1]);
  }
  return sample;
}

function parseValue(s: string, n: number): number {
  switch (s) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new PromParseError(n, `bad value ${s}`);
  return Number(s);
}
