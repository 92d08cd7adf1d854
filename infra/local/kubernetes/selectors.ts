/**
 * Label and field selectors, parsed as the apiserver parses them (k8s.io/apimachinery/pkg/labels):
 * `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by commas.
 */
import { badRequest } from './errors';

export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'doesnotexist' };

export type Labels = Readonly<Record<string, string>>;

/** Splits on commas that are not inside a `( )` value set. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?$/;

function checkKey(key: string, raw: string): string {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${raw}"`);
  return key;
}

function checkValue(value: string, raw: string): string {
  if (!VALUE.test(value))
    throw badRequest(`unable to parse requirement: invalid label value "${value}" in "${raw}"`);
  return value;
}

export function parseLabelSelector(text: string): Requirement[] {
  if (text.trim() === '') return [];
  return splitTopLevel(text).map((rawPart) => {
    const raw = rawPart.trim();
    if (raw === '') throw badRequest(`unable to parse requirement: empty requirement in "${text}"`);
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(raw);
    if (set) {
      const values = set[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      return {
        key: checkKey(set[1]!, raw),
        op: set[2] as 'in' | 'notin',
        values: values.map((v) => checkValue(v, raw)),
      };
    }
    const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(raw);
    if (cmp) {
      return {
        key: checkKey(cmp[1]!, raw),
        op: cmp[2] === '!=' ? 'notin' : 'in',
        values: [checkValue(cmp[3]!, raw)],
      };
    }
    if (raw.startsWith('!')) return { key: checkKey(raw.slice(1).trim(), raw), op: 'doesnotexist' };
    return { key: checkKey(raw, raw), op: 'exists' };
  });
}

export function matchesRequirements(requirements: readonly Requirement[], labels: Labels): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'doesnotexist':
        return !has;
      case 'in':
        return has && r.values.includes(labels[r.key]!);
      case 'notin':
        return !has || !r.values.includes(labels[r.key]!);
      default:
        return false;
    }
  });
}

/** A structured LabelSelector (`matchLabels` + `matchExpressions`) as in Deployment.spec.selector. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export function selectorRequirements(selector: LabelSelector): Requirement[] {
  const reqs: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
    key,
    op: 'in',
    values: [value],
  }));
  for (const e of selector.matchExpressions ?? []) {
    const op = e.operator.toLowerCase();
    if (op === 'in' || op === 'notin') reqs.push({ key: e.key, op, values: e.values ?? [] });
    else if (op === 'exists') reqs.push({ key: e.key, op: 'exists' });
    else if (op === 'doesnotexist') reqs.push({ key: e.key, op: 'doesnotexist' });
  }
  return reqs;
}

/** `app=x,tier=y`: the string form that Scale.status.selector carries. */
export function selectorString(selector: LabelSelector): string {
  return selectorRequirements(selector)
    .map((r) => {
      if (!('values' in r)) return r.op === 'exists' ? r.key : `!${r.key}`;
      if (r.values.length === 1 && r.op === 'in') return `${r.key}=${r.values[0]}`;
      return `${r.key} ${r.op} (${r.values.join(',')})`;
    })
    .join(',');
}

export interface FieldRequirement {
  field: string;
  equals: boolean;
  value: string;
}

/** Fields every resource can be selected by. */
export const METADATA_FIELDS: readonly string[] = ['metadata.name', 'metadata.namespace'];

/**
 * Parses `a=b,c!=d` (also `==`). Fields outside `supported` are refused as the apiserver refuses
 * them; by default only the metadata fields every resource supports are accepted.
 */
export function parseFieldSelector(
  text: string,
  supported: readonly string[] = METADATA_FIELDS,
): FieldRequirement[] {
  if (text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(\S*)\s*$/.exec(raw);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${raw}'`);
    const field = m[1]!;
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`);
    return { field, equals: m[2] !== '!=', value: m[3]! };
  });
}

/** Whether an object's field values (as `fieldValues` gives them) satisfy every requirement. */
export function matchesFields(
  requirements: readonly FieldRequirement[],
  values: Readonly<Record<string, string>>,
): boolean {
  return requirements.every((r) => ((values[r.field] ?? '') === r.value) === r.equals);
}
