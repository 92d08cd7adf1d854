import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../shared/runtime/errors';

/**
 * Joins a base path and a zod path into the dotted form ValidationIssue uses. Array indexes stay
 * dotted (`issues.0.path`) so a path can be split on '.' without a second syntax.
 */
export function joinPath(base: string, path: readonly PropertyKey[] = []): string {
  const parts = path.map((p) => (typeof p === 'symbol' ? (p.description ?? '') : String(p)));
  return [base, ...parts].filter((p) => p !== '').join('.');
}

/** Zod issues -> ValidationIssues, re-pathed under `basePath` (the real field in the outer event). */
export function toValidationIssues(error: z.core.$ZodError, basePath = ''): ValidationIssue[] {
  return error.issues.flatMap((issue) =>
    // Zod reports unknown keys at the parent object; name each key so the path is the real field.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          path: joinPath(basePath, [...issue.path, key]),
          message: 'unknown field',
        }))
      : [{ path: joinPath(basePath, issue.path), message: issue.message }],
  );
}

/** Re-paths issues that were produced relative to an inner document. */
export function prefixIssues(issues: readonly ValidationIssue[], basePath: string): ValidationIssue[] {
  return issues.map((i) => ({ ...i, path: joinPath(basePath, i.path === '' ? [] : [i.path]) }));
}

/**
 * Parses `input` with `schema` or throws a ValidationError (a PermanentError: bad input is never
 * retried). `what` names the document in the error message; `basePath` locates it in the outer event.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  basePath = '',
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(what, toValidationIssues(result.error, basePath), { cause: result.error });
}
