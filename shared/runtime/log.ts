/**
 * Structured logs in Cloud Logging's JSON format: one JSON object per line on stdout, which the
 * Cloud Run logging agent turns into a LogEntry (`severity`, `message`, trace, labels).
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

function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[DEPTH]';
  if (typeof value === 'string') return scrubString(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: scrubString(value.message) };
    const withReason = value as Error & { reason?: unknown; details?: unknown };
    if (withReason.reason !== undefined) out.reason = withReason.reason;
    if (withReason.details !== undefined) out.details = redact(withReason.details, depth + 1);
    if (value.stack) out.stack = scrubString(value.stack);
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
      message: scrubString(message),
      time: new Date().toISOString(),
    };
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
