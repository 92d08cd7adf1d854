/**
 * Validation issues for YAML files users write (the policy file, model.yaml): zod issues turned
 * into path + message, then placed at the line of the field (or of its nearest parent that the
 * file contains), so an error says where to look.
 */
import { isMap, isNode, isScalar, isSeq, type LineCounter } from 'yaml';
import type { z } from 'zod';
import type { ValidationIssue } from './errors';

export interface LocatedIssue extends ValidationIssue {
  /** 1-based position in the file, when the path (or its nearest parent) exists in it. */
  line?: number;
  column?: number;
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
