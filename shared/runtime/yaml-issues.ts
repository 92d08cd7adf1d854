/**
 * Validation issues for YAML files users write (the policy file, model.yaml), the one place that
 * turns problems into located issues: YAML syntax errors at their position, zod issues turned into
 * path + message and placed at the line of the field (or of its nearest parent that the file
 * contains), in file order, so an error says where to look.
 */
import { type Document, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { ValidationIssue } from './errors';

export interface LocatedIssue extends ValidationIssue {
  /** 1-based position in the file, when the path (or its nearest parent) exists in it. */
  line?: number;
  column?: number;
}

/** A YAML file parsed with positions, for locating issues in it. */
export interface LocatedYaml {
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

/**
 * Parses one YAML document keeping positions; duplicate keys are errors. `syntaxIssues` is empty
 * when the text parses, else one issue per syntax error, at its line and column.
 */
export function parseLocatedYaml(text: string): { yaml: LocatedYaml; syntaxIssues: LocatedIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntaxIssues = doc.errors.map((e): LocatedIssue => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    return {
      path: '',
      message: `YAML syntax error at line ${line}, column ${col}: ${e.message.split('\n')[0]}`,
      line,
      column: col,
    };
  });
  return { yaml: { doc, lineCounter }, syntaxIssues };
}

/** The zod error map for files users write: a missing field "is required", whatever its type. */
export const yamlFieldErrors: z.core.$ZodErrorMap = (iss) =>
  iss.code === 'invalid_type' && iss.input === undefined ? 'is required' : undefined;

/**
 * Every issue placed in the file (see `locateYamlIssue`), sorted in file order; issues without a
 * position keep their relative order, at the end.
 */
export function locateYamlIssues(issues: readonly ValidationIssue[], yaml: LocatedYaml): LocatedIssue[] {
  return issues
    .map((issue, order) => ({ issue: locateYamlIssue(issue, yaml.doc.contents, yaml.lineCounter), order }))
    .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || a.order - b.order)
    .map((l) => l.issue);
}

/** zod issues of a failed parse as located issues, with any further issues (cross-field rules). */
export function locateZodIssues(
  zodIssues: readonly z.core.$ZodIssue[],
  yaml: LocatedYaml,
  more: readonly ValidationIssue[] = [],
): LocatedIssue[] {
  return locateYamlIssues([...zodIssues.flatMap(zodIssueToValidationIssues), ...more], yaml);
}

export function zodIssueToValidationIssues(issue: z.core.$ZodIssue): ValidationIssue[] {
  const path = issue.path.map(String);
  // One issue per unknown field, at the field itself: that is what the user has to delete or fix.
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: [...path, k].join('.'), message: 'unknown field' }));
  }
  return [{ path: path.join('.'), message: issue.message }];
}

export function locateYamlIssue(
  issue: ValidationIssue,
  contents: unknown,
  lineCounter: LineCounter,
): LocatedIssue {
  const segments = issue.path === '' ? [] : issue.path.split('.');
  for (let n = segments.length; n > 0; n--) {
    const offset = offsetOf(contents, segments.slice(0, n));
    if (offset !== undefined) {
      const { line, col } = lineCounter.linePos(offset);
      return { ...issue, line, column: col };
    }
  }
  return issue;
}

/** Offset of a mapping entry's key (where a reader looks for a field) or of a sequence item. */
function offsetOf(root: unknown, segments: string[]): number | undefined {
  let node: unknown = root;
  let offset: number | undefined;
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) return undefined;
      offset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      node = pair.value;
    } else if (isSeq(node) && /^\d+$/.test(segment)) {
      const item: unknown = node.items[Number(segment)];
      if (!isNode(item)) return undefined;
      offset = item.range?.[0];
      node = item;
    } else {
      return undefined;
    }
  }
  return offset;
}
