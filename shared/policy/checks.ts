/**
 * Rules that relate several fields of a policy. They read the raw document defensively (it may be
 * structurally invalid too), so a file gets its structural and semantic problems in one report.
 */

import { BUILTIN_GPU_CLASS_IDS, resolveGpuClass } from '../gpu/catalog';
import type { ValidationIssue } from '../runtime/errors';
import { ConfigurationError } from '../runtime/errors';
import { gpuClassSchema, isIsoDate, MODEL_NAME } from './schema';
import { tryParseWindow } from './windows';

type Raw = Record<string, unknown>;

function asRecord(value: unknown): Raw | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : undefined;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function asNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

const GPU_CLASS_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isValidModelName(name: string): boolean {
  // `.` and `..` match the character set but are path segments, not names, in a model repository.
  return MODEL_NAME.test(name) && !/^\.+$/.test(name);
}

export function crossFieldIssues(document: unknown): ValidationIssue[] {
  const doc = asRecord(document);
  if (!doc) return [];
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });

  // GPU classes: ids, and whether the catalog can build each class (the catalog owns those rules).
  const gpuClasses = asRecord(doc.gpuClasses) ?? {};
  const builtin: readonly string[] = BUILTIN_GPU_CLASS_IDS;
  for (const [id, value] of Object.entries(gpuClasses)) {
    if (!GPU_CLASS_ID.test(id)) {
      add(`gpuClasses.${id}`, 'class id must be lower-case letters, digits and dashes');
      continue;
    }
    const override = gpuClassSchema.safeParse(value);
    if (!override.success) continue; // its structural problems are reported already
    if (!builtin.includes(id) && override.data.machineType === undefined) {
      add(`gpuClasses.${id}.machineType`, 'is required for a class not in the built-in catalog');
      continue;
    }
    try {
      resolveGpuClass(id, { [id]: override.data });
    } catch (err) {
      if (!(err instanceof ConfigurationError)) throw err;
      add(`gpuClasses.${id}${override.data.machineType === undefined ? '' : '.machineType'}`, err.message);
    }
  }
  const knownClasses = new Set([...builtin, ...Object.keys(gpuClasses)]);
  const checkClassRef = (path: string, value: unknown) => {
    if (typeof value === 'string' && value !== '' && !knownClasses.has(value)) {
      add(path, `unknown GPU class "${value}" (known: ${[...knownClasses].join(', ')})`);
    }
  };

  // Replicas: min <= max, for the defaults and for each model once merged with them.
  const defaults = asRecord(doc.modelDefaults) ?? {};
  const defaultReplicas = asRecord(defaults.replicas) ?? {};
  const defaultMin = asNumber(defaultReplicas.min) ?? 1;
  const defaultMax = asNumber(defaultReplicas.max) ?? 4;
  checkClassRef('modelDefaults.gpuClass', defaults.gpuClass);
  if (defaultMin > defaultMax) {
    add('modelDefaults.replicas', `min (${defaultMin}) must not exceed max (${defaultMax})`);
  }

  for (const [name, value] of Object.entries(asRecord(doc.models) ?? {})) {
    if (!isValidModelName(name)) add(`models.${name}`, 'model name must use only letters, digits, _ . and -');
    const model = asRecord(value) ?? {};
    checkClassRef(`models.${name}.gpuClass`, model.gpuClass);
    const replicas = asRecord(model.replicas);
    if (replicas) {
      const min = asNumber(replicas.min) ?? defaultMin;
      const max = asNumber(replicas.max) ?? defaultMax;
      if (min > max) add(`models.${name}.replicas`, `min (${min}) must not exceed max (${max})`);
    }
  }

  checkUniqueNames(asArray(doc.alertRules), 'alertRules', add);
  asArray(doc.alertRules).forEach((value, i) => {
    const match = asRecord(asRecord(value)?.match);
    if (match && match.policyName === undefined && match.userLabels === undefined) {
      add(
        `alertRules.${i}.match`,
        'must set policyName or userLabels (an empty match would catch every alert)',
      );
    }
  });

  checkUniqueNames(asArray(doc.schedules), 'schedules', add);
  asArray(doc.schedules).forEach((value, i) => {
    const target = asRecord(asRecord(value)?.target);
    if (!target) return;
    const set = ['models', 'pools', 'all'].filter((k) => target[k] !== undefined);
    if (set.length !== 1) add(`schedules.${i}.target`, 'must set exactly one of models, pools or all');
    asArray(target.models).forEach((model, j) => {
      if (typeof model === 'string' && !isValidModelName(model)) {
        add(`schedules.${i}.target.models.${j}`, 'model name must use only letters, digits, _ . and -');
      }
    });
  });
  asArray(doc.schedules).forEach((value, i) => {
    scheduleIssues(asRecord(value) ?? {}, `schedules.${i}`, add);
  });

  const guardrails = asRecord(doc.guardrails) ?? {};
  const perPool = asNumber(guardrails.maxGpusPerPool);
  const total = asNumber(guardrails.maxGpusTotal);
  if (perPool !== undefined && total !== undefined && perPool > total) {
    add('guardrails.maxGpusPerPool', `must not exceed maxGpusTotal (${total})`);
  }

  // An exposure through the Gateway always carries Cloud Armor: without it nothing filters the internet.
  const exposure = asRecord(asRecord(doc.security)?.exposure);
  if (exposure?.mode === 'gateway') {
    const gateway = asRecord(exposure.gateway);
    if (!gateway) add('security.exposure.gateway', 'is required when mode is gateway');
    else if (gateway.cloudArmorPolicy === undefined)
      add('security.exposure.gateway.cloudArmorPolicy', 'is required when mode is gateway');
  }

  return issues;
}

function checkUniqueNames(
  items: unknown[],
  what: string,
  add: (path: string, message: string) => void,
): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const name = asRecord(item)?.name;
    if (typeof name !== 'string') return;
    const seen = first.get(name);
    if (seen === undefined) first.set(name, i);
    else add(`${what}.${i}.name`, `duplicate name "${name}" (also ${what}.${seen})`);
  });
}

/**
 * A schedule's rules across fields: the windows' zones against holidays written as dates, freeze
 * bounds in order, and windows long enough for the warm-up lead time. Each message names the
 * schedule, so a refused policy says which schedule to fix.
 */
function scheduleIssues(schedule: Raw, path: string, add: (path: string, message: string) => void): void {
  const name = typeof schedule.name === 'string' ? `schedule "${schedule.name}"` : 'schedule';
  const windows = asArray(schedule.downtime)
    .map((w) => (typeof w === 'string' ? tryParseWindow(w) : undefined))
    .flatMap((r) => (r?.ok ? [r.window] : []));
  const zones = [...new Set(windows.map((w) => w.timeZone))];
  const freezes = asArray(schedule.freezes).map((f) => asRecord(f) ?? {});
  const usesDates =
    asArray(schedule.holidays).length > 0 ||
    freezes.some((f) => [f.from, f.until].some((t) => typeof t === 'string' && isIsoDate(t)));
  if (zones.length > 1 && schedule.timeZone === undefined && usesDates) {
    add(
      `${path}.timeZone`,
      `${name}: windows use several zones (${zones.join(', ')}); set timeZone for its holidays and freeze dates`,
    );
  }
  freezes.forEach((f, j) => {
    const from = boundOf(f.from);
    const until = boundOf(f.until);
    if (from !== undefined && until !== undefined && !(until > from)) {
      add(
        `${path}.freezes.${j}`,
        `${name}: freeze must end after it starts (${String(f.from)} .. ${String(f.until)})`,
      );
    }
  });
  const lead = asNumber(schedule.leadTimeMinutes) ?? 10;
  asArray(schedule.downtime).forEach((text, j) => {
    const parsed = typeof text === 'string' ? tryParseWindow(text) : undefined;
    if (!parsed?.ok) return;
    const w = parsed.window;
    const minutes = w.crossesMidnight ? 1440 - w.startMinute + w.endMinute : w.endMinute - w.startMinute;
    if (minutes <= lead) {
      add(
        `${path}.downtime.${j}`,
        `${name}: window "${text}" lasts ${minutes} min, not longer than leadTimeMinutes (${lead}): it would never scale down`,
      );
    }
  });
}

/** A freeze bound as a comparable instant (dates at UTC midnight: only their order matters here). */
function boundOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(isIsoDate(value) ? `${value}T00:00:00Z` : value);
  return Number.isFinite(ms) ? ms : undefined;
}
