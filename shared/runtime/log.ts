import { format } from 'node:util';
import { escapeUserText } from './errors';

/**
 * Structured logs in Cloud Logging's JSON format: one JSON object per line on stdout, which the
 * Cloud Run logging agent turns into a LogEntry (`severity`, `message`, trace, labels). A logged
 * error's stack goes into `stack_trace` (which Error Reporting reads), never onto stderr raw; the
 * message has its control and bidi characters escaped, so quoted user bytes cannot forge lines.
 * Secret values never reach the output: keys that name secrets are redacted, and so is any string
 * registered with `registerSecret` wherever it appears.
 */
export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  notice(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose entries carry these labels and fields too. */
  child(context: LogContext): Logger;
}

export interface LogContext {
  labels?: Record<string, string>;
  fields?: LogFields;
  /** Full `logging.googleapis.com/trace` value: `projects/P/traces/T`. */
  trace?: string;
  spanId?: string;
}

export type LogSink = (line: string) => void;

const SECRET_KEY = /(secret|token|password|passwd|api[-_]?key|authorization|credential|private[-_]?key)/i;
const REDACTED = '[REDACTED]';
const registeredSecrets = new Set<string>();

/** Registers a value that must never be logged (an API key, a token). Short values are ignored. */
export function registerSecret(value: string): void {
  if (value.length >= 6) registeredSecrets.add(value);
}

function scrubString(value: string): string {
  let out = value;
  for (const secret of registeredSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** A stack trace with its user bytes escaped line by line, its line breaks kept. */
function safeStack(stack: string): string {
  return stack
    .split('\n')
    .map((line) => escapeUserText(scrubString(line), Number.POSITIVE_INFINITY))
    .join('\n');
}

function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[DEPTH]';
  if (typeof value === 'string') return scrubString(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = {
      name: value.name,
      message: escapeUserText(scrubString(value.message), Number.POSITIVE_INFINITY),
    };
    const withReason = value as Error & { reason?: unknown; details?: unknown };
    if (withReason.reason !== undefined) out.reason = withReason.reason;
    if (withReason.details !== undefined) out.details = redact(withReason.details, depth + 1);
    if (value.stack) out.stack = safeStack(value.stack);
    if (value.cause !== undefined) out.cause = redact(value.cause, depth + 1);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? REDACTED : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

/** `traceparent` (W3C) -> Cloud Logging trace and span fields. */
export function traceFromTraceparent(
  traceparent: string | undefined,
  projectId: string | undefined,
): { trace?: string; spanId?: string } {
  if (!traceparent || !projectId) return {};
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(traceparent.trim());
  if (!m) return {};
  return { trace: `projects/${projectId}/traces/${m[1]}`, spanId: m[2]! };
}

const ORDER: Record<Severity, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4, CRITICAL: 5 };

export function createLogger(
  options: { sink?: LogSink; minSeverity?: Severity; context?: LogContext } = {},
): Logger {
  const sink: LogSink = options.sink ?? ((line) => process.stdout.write(`${line}\n`));
  const min = ORDER[options.minSeverity ?? 'DEBUG'];
  const ctx = options.context ?? {};

  const write = (severity: Severity, message: string, fields?: LogFields) => {
    if (ORDER[severity] < min) return;
    const entry: Record<string, unknown> = {
      ...(redact(ctx.fields ?? {}) as LogFields),
      ...(redact(fields ?? {}) as LogFields),
      severity,
      message: escapeUserText(scrubString(message), Number.POSITIVE_INFINITY),
      time: new Date().toISOString(),
    };
    const error = Object.values(fields ?? {}).find((v): v is Error => v instanceof Error);
    if (error?.stack) entry.stack_trace = safeStack(error.stack);
    if (ctx.labels && Object.keys(ctx.labels).length > 0) {
      entry['logging.googleapis.com/labels'] = ctx.labels;
    }
    if (ctx.trace) entry['logging.googleapis.com/trace'] = ctx.trace;
    if (ctx.spanId) entry['logging.googleapis.com/spanId'] = ctx.spanId;
    sink(JSON.stringify(entry));
  };

  return {
    debug: (m, f) => write('DEBUG', m, f),
    info: (m, f) => write('INFO', m, f),
    notice: (m, f) => write('NOTICE', m, f),
    warn: (m, f) => write('WARNING', m, f),
    error: (m, f) => write('ERROR', m, f),
    child: (child) =>
      createLogger({
        sink,
        minSeverity: options.minSeverity ?? 'DEBUG',
        context: {
          labels: { ...ctx.labels, ...child.labels },
          fields: { ...ctx.fields, ...child.fields },
          trace: child.trace ?? ctx.trace,
          spanId: child.spanId ?? ctx.spanId,
        },
      }),
  };
}

/** A logger that keeps entries in memory, for tests. */
export function createMemoryLogger(): { logger: Logger; entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  return { logger: createLogger({ sink: (line) => entries.push(JSON.parse(line)) }), entries };
}

let consoleRouted = false;

/**
 * Makes every line this process writes a structured entry, whoever writes it: `console.*` (a
 * library, the Functions Framework's own error handlers) becomes an entry of the matching severity
 * on stdout, with an error's stack in `stack_trace`; text written to stderr directly becomes an
 * ERROR entry (JSON lines pass through as they are). Idempotent.
 */
export function routeConsoleToStructuredLogs(options: { labels?: Record<string, string> } = {}): void {
  if (consoleRouted) return;
  consoleRouted = true;
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  const stderrWrite = process.stderr.write.bind(process.stderr);
  const emit = (severity: Severity, args: unknown[], write: (line: string) => boolean = stdoutWrite) => {
    const error = args.find((a): a is Error => a instanceof Error);
    const text = args
      .map((a) =>
        a instanceof Error ? `${a.name}: ${a.message}` : typeof a === 'string' ? a : format('%o', a),
      )
      .join(' ');
    const entry: Record<string, unknown> = {
      severity,
      message: escapeUserText(scrubString(text), Number.POSITIVE_INFINITY),
      time: new Date().toISOString(),
      ...(error?.stack ? { stack_trace: safeStack(error.stack) } : {}),
      ...(options.labels ? { 'logging.googleapis.com/labels': options.labels } : {}),
    };
    write(`${JSON.stringify(entry)}\n`);
  };
  console.log = (...args: unknown[]) => emit('INFO', args);
  console.info = (...args: unknown[]) => emit('INFO', args);
  console.debug = (...args: unknown[]) => emit('DEBUG', args);
  console.warn = (...args: unknown[]) => emit('WARNING', args);
  console.error = (...args: unknown[]) => emit('ERROR', args);
  console.trace = (...args: unknown[]) => emit('ERROR', [...args, new Error('console.trace')]);
  const wrapped = (chunk: unknown, ...rest: unknown[]): boolean => {
    const text =
      typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
    const lines = text.split('\n').filter((l) => l.length > 0);
    const allJson = lines.every((l) => l.startsWith('{') && isJson(l));
    if (allJson) return stderrWrite(chunk as string, ...(rest as []));
    const multiLine = text.replace(/\n$/, '');
    const entry: Record<string, unknown> = {
      severity: 'ERROR',
      message: escapeUserText(scrubString(multiLine.split('\n')[0] ?? ''), Number.POSITIVE_INFINITY),
      time: new Date().toISOString(),
      ...(multiLine.includes('\n') ? { stack_trace: safeStack(multiLine) } : {}),
    };
    const callback = rest.find((r): r is () => void => typeof r === 'function');
    return stderrWrite(`${JSON.stringify(entry)}\n`, callback);
  };
  process.stderr.write = wrapped as typeof process.stderr.write;
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
