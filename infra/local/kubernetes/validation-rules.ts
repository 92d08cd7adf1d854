/**
 * The apiserver's validation of autoscaling/v2 HorizontalPodAutoscalers and networking.k8s.io/v1
 * NetworkPolicies (pkg/apis/autoscaling/validation, pkg/apis/networking/validation), with their
 * field paths, reasons and messages.
 */
import { isIP } from 'node:net';
import type { StatusCause } from './errors';
import { isObject, type JsonObject } from './json';

export function invalidValue(field: string, value: unknown, detail: string): StatusCause {
  return {
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
    field,
  };
}

export function required(field: string, detail = ''): StatusCause {
  return { reason: 'FieldValueRequired', message: `Required value${detail ? `: ${detail}` : ''}`, field };
}

function forbidden(field: string, detail: string): StatusCause {
  return { reason: 'FieldValueForbidden', message: `Forbidden: ${detail}`, field };
}

function notSupported(field: string, value: unknown, supported: readonly string[]): StatusCause {
  return {
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
    field,
  };
}

// ---------------------------------------------------------------------------------------------
// HorizontalPodAutoscaler

const MAX_STABILIZATION_WINDOW_SECONDS = 3600;
const MAX_PERIOD_SECONDS = 1800;
const METRIC_SOURCE_TYPES = ['ContainerResource', 'External', 'Object', 'Pods', 'Resource'];
const SOURCE_FIELDS: Record<string, string> = {
  Object: 'object',
  Pods: 'pods',
  Resource: 'resource',
  External: 'external',
  ContainerResource: 'containerResource',
};
const SELECT_POLICIES = ['Disabled', 'Max', 'Min'];
const POLICY_TYPES = ['Percent', 'Pods'];

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;

/** The sign of a resource.Quantity (string or number): 1, 0, -1, or undefined when unparsable. */
function quantitySign(v: unknown): number | undefined {
  if (typeof v === 'number') return Math.sign(v);
  if (typeof v !== 'string') return undefined;
  const m = QUANTITY.exec(v.trim());
  if (!m) return undefined;
  if (Number(m[2]) === 0) return 0;
  return m[1] === '-' ? -1 : 1;
}

function validateMetricTarget(target: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const t = isObject(target) ? target : {};
  if (typeof t.type !== 'string' || t.type === '') {
    causes.push(required(`${path}.type`, 'must specify a metric target type'));
  }
  if (t.type !== 'Utilization' && t.type !== 'Value' && t.type !== 'AverageValue') {
    causes.push(
      invalidValue(`${path}.type`, t.type ?? '', 'must be either Utilization, Value, or AverageValue'),
    );
  }
  if (t.value !== undefined && quantitySign(t.value) !== 1) {
    causes.push(invalidValue(`${path}.value`, String(t.value), 'must be positive'));
  }
  if (t.averageValue !== undefined && quantitySign(t.averageValue) !== 1) {
    causes.push(invalidValue(`${path}.averageValue`, String(t.averageValue), 'must be positive'));
  }
  if (t.averageUtilization !== undefined && !(Number(t.averageUtilization) >= 1)) {
    causes.push(invalidValue(`${path}.averageUtilization`, t.averageUtilization, 'must be greater than 0'));
  }
  return causes;
}

function metricName(src: JsonObject, path: string): StatusCause[] {
  const metric = isObject(src.metric) ? src.metric : {};
  return typeof metric.name === 'string' && metric.name !== ''
    ? []
    : [required(`${path}.metric.name`, 'must specify a metric name')];
}

function crossVersionRef(ref: unknown, path: string): StatusCause[] {
  const r = isObject(ref) ? ref : {};
  const causes: StatusCause[] = [];
  if (typeof r.kind !== 'string' || r.kind === '') causes.push(required(`${path}.kind`));
  if (typeof r.name !== 'string' || r.name === '') causes.push(required(`${path}.name`));
  return causes;
}

function validateSource(type: string, src: JsonObject, path: string): StatusCause[] {
  const target = isObject(src.target) ? src.target : {};
  const causes: StatusCause[] = [];
  switch (type) {
    case 'Object':
      causes.push(...crossVersionRef(src.describedObject, `${path}.describedObject`));
      causes.push(...metricName(src, path), ...validateMetricTarget(src.target, `${path}.target`));
      if (target.value === undefined && target.averageValue === undefined) {
        causes.push(
          required(`${path}.target.averageValue`, 'must set either a target value or averageValue'),
        );
      }
      break;
    case 'Pods':
      causes.push(...metricName(src, path), ...validateMetricTarget(src.target, `${path}.target`));
      if (target.averageValue === undefined) {
        causes.push(required(`${path}.target.averageValue`, 'must specify a positive target averageValue'));
      }
      break;
    case 'External':
      causes.push(...metricName(src, path), ...validateMetricTarget(src.target, `${path}.target`));
      if (target.value === undefined && target.averageValue === undefined) {
        causes.push(
          required(
            `${path}.target.averageValue`,
            'must set either a target value for metric or a per-pod target',
          ),
        );
      }
      if (target.value !== undefined && target.averageValue !== undefined) {
        causes.push(
          forbidden(
            `${path}.target.value`,
            'may not set both a target value for metric and a per-pod target',
          ),
        );
      }
      break;
    default: {
      // Resource and ContainerResource
      if (typeof src.name !== 'string' || src.name === '') {
        causes.push(required(`${path}.name`, 'must specify a resource name'));
      }
      if (type === 'ContainerResource' && (typeof src.container !== 'string' || src.container === '')) {
        causes.push(required(`${path}.container`, 'must specify a container'));
      }
      causes.push(...validateMetricTarget(src.target, `${path}.target`));
      if (target.averageUtilization === undefined && target.averageValue === undefined) {
        causes.push(
          required(
            `${path}.target.averageUtilization`,
            'must set either a target raw value or a target utilization',
          ),
        );
      }
      if (target.averageUtilization !== undefined && target.averageValue !== undefined) {
        causes.push(
          forbidden(
            `${path}.target.averageValue`,
            'may not set both a target raw value and a target utilization',
          ),
        );
      }
    }
  }
  return causes;
}

function validateMetric(metric: unknown, path: string): StatusCause[] {
  const m = isObject(metric) ? metric : {};
  const causes: StatusCause[] = [];
  const type = typeof m.type === 'string' ? m.type : '';
  if (type === '') causes.push(required(`${path}.type`, 'must specify a metric source type'));
  if (!METRIC_SOURCE_TYPES.includes(type))
    causes.push(notSupported(`${path}.type`, type, METRIC_SOURCE_TYPES));
  const present = Object.entries(SOURCE_FIELDS).filter(([, f]) => isObject(m[f]));
  const first = present[0];
  if (first) causes.push(...validateSource(first[0], m[first[1]] as JsonObject, `${path}.${first[1]}`));
  const expected = SOURCE_FIELDS[type];
  if (expected !== undefined && !isObject(m[expected])) {
    causes.push(required(`${path}.${expected}`, 'must populate information for the given metric source'));
  }
  if (present.length !== 1) {
    for (const [, f] of present) {
      if (f !== expected)
        causes.push(forbidden(`${path}.${f}`, 'must populate the given metric source only'));
    }
  }
  return causes;
}

function validateScalingRules(rules: unknown, path: string): StatusCause[] {
  if (!isObject(rules)) return [];
  const causes: StatusCause[] = [];
  const window = rules.stabilizationWindowSeconds;
  if (typeof window === 'number' && window < 0) {
    causes.push(
      invalidValue(`${path}.stabilizationWindowSeconds`, window, 'must be greater than or equal to zero'),
    );
  }
  if (typeof window === 'number' && window > MAX_STABILIZATION_WINDOW_SECONDS) {
    causes.push(
      invalidValue(
        `${path}.stabilizationWindowSeconds`,
        window,
        `must be less than or equal to ${MAX_STABILIZATION_WINDOW_SECONDS}`,
      ),
    );
  }
  if (rules.selectPolicy !== undefined && !SELECT_POLICIES.includes(String(rules.selectPolicy))) {
    causes.push(notSupported(`${path}.selectPolicy`, rules.selectPolicy, SELECT_POLICIES));
  }
  if (Array.isArray(rules.policies)) {
    if (rules.policies.length === 0) {
      causes.push(required(`${path}.policies`, 'must specify at least one Policy'));
    }
    rules.policies.forEach((p, i) => {
      const policy = isObject(p) ? p : {};
      const at = `${path}.policies[${i}]`;
      if (policy.type !== 'Pods' && policy.type !== 'Percent') {
        causes.push(notSupported(`${at}.type`, policy.type ?? '', POLICY_TYPES));
      }
      const value = typeof policy.value === 'number' ? policy.value : 0;
      if (value <= 0) causes.push(invalidValue(`${at}.value`, value, 'must be greater than zero'));
      const period = typeof policy.periodSeconds === 'number' ? policy.periodSeconds : 0;
      if (period <= 0) causes.push(invalidValue(`${at}.periodSeconds`, period, 'must be greater than zero'));
      if (period > MAX_PERIOD_SECONDS) {
        causes.push(
          invalidValue(`${at}.periodSeconds`, period, `must be less than or equal to ${MAX_PERIOD_SECONDS}`),
        );
      }
    });
  }
  return causes;
}

export function validateHpa(obj: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = isObject(obj.spec) ? obj.spec : {};
  const min = typeof spec.minReplicas === 'number' ? spec.minReplicas : undefined;
  if (min !== undefined && min < 1) {
    causes.push(invalidValue('spec.minReplicas', min, 'must be greater than or equal to 1'));
  }
  if (typeof spec.maxReplicas !== 'number') {
    causes.push(required('spec.maxReplicas'));
  } else {
    if (spec.maxReplicas < 1)
      causes.push(invalidValue('spec.maxReplicas', spec.maxReplicas, 'must be greater than 0'));
    if (min !== undefined && spec.maxReplicas < min) {
      causes.push(
        invalidValue('spec.maxReplicas', spec.maxReplicas, 'must be greater than or equal to `minReplicas`'),
      );
    }
  }
  causes.push(...crossVersionRef(spec.scaleTargetRef, 'spec.scaleTargetRef'));
  if (Array.isArray(spec.metrics)) {
    spec.metrics.forEach((m, i) => {
      causes.push(...validateMetric(m, `spec.metrics[${i}]`));
    });
  }
  if (isObject(spec.behavior)) {
    causes.push(...validateScalingRules(spec.behavior.scaleUp, 'spec.behavior.scaleUp'));
    causes.push(...validateScalingRules(spec.behavior.scaleDown, 'spec.behavior.scaleDown'));
  }
  return causes;
}

// ---------------------------------------------------------------------------------------------
// NetworkPolicy

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const POLICY_TYPE_VALUES = ['Ingress', 'Egress'];
const PORT_RANGE = 'must be between 1 and 65535, inclusive';
const CIDR_MESSAGE = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

/** validation.IsValidPortName (IANA_SVC_NAME). */
function portNameErrors(name: string): string[] {
  const errs: string[] = [];
  if (name.length < 1 || name.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(name))
    errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(name)) errs.push('must contain at least one letter (a-z)');
  if (name.includes('--')) errs.push('must not contain consecutive hyphens');
  if (name.startsWith('-') || name.endsWith('-')) errs.push('must not begin or end with a hyphen');
  return errs;
}

function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function validatePort(port: unknown, path: string): StatusCause[] {
  const p = isObject(port) ? port : {};
  const causes: StatusCause[] = [];
  if (p.protocol !== undefined && !PROTOCOLS.includes(String(p.protocol))) {
    causes.push(notSupported(`${path}.protocol`, p.protocol, PROTOCOLS));
  }
  const endPort = typeof p.endPort === 'number' ? p.endPort : undefined;
  if (typeof p.port === 'number') {
    if (!validPort(p.port)) causes.push(invalidValue(`${path}.port`, p.port, PORT_RANGE));
    if (endPort !== undefined) {
      if (endPort < p.port) {
        causes.push(invalidValue(`${path}.endPort`, p.port, 'must be greater than or equal to `port`'));
      }
      if (!validPort(endPort)) causes.push(invalidValue(`${path}.endPort`, endPort, PORT_RANGE));
    }
  } else if (typeof p.port === 'string') {
    if (endPort !== undefined) {
      causes.push(
        invalidValue(`${path}.endPort`, endPort, 'may not be specified when `port` is non-numeric'),
      );
    }
    for (const msg of portNameErrors(p.port)) causes.push(invalidValue(`${path}.port`, p.port, msg));
  } else if (endPort !== undefined) {
    causes.push(
      invalidValue(`${path}.endPort`, endPort, 'may not be specified when `port` is not specified'),
    );
  }
  return causes;
}

interface Cidr {
  family: 4 | 6;
  network: bigint;
  bits: number;
}

function ipValue(ip: string, family: 4 | 6): bigint {
  if (family === 4) return ip.split('.').reduce((n, part) => (n << 8n) + BigInt(Number(part)), 0n);
  const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) + BigInt(Number.parseInt(g, 16)), 0n);
}

function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const family = isIP(m[1]!);
  if (family !== 4 && family !== 6) return undefined;
  if (family === 6 && m[1]!.includes('.')) return undefined;
  const bits = Number(m[2]);
  const width = family === 4 ? 32 : 128;
  if (bits > width) return undefined;
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { family, network: ipValue(m[1]!, family) & mask, bits };
}

function validateIpBlock(block: JsonObject, path: string): StatusCause[] {
  if (typeof block.cidr !== 'string' || block.cidr === '') return [required(`${path}.cidr`)];
  const cidr = parseCidr(block.cidr);
  if (!cidr) return [invalidValue(`${path}.cidr`, block.cidr, CIDR_MESSAGE)];
  const causes: StatusCause[] = [];
  const except = Array.isArray(block.except) ? block.except : [];
  except.forEach((e, i) => {
    const at = `${path}.except[${i}]`;
    const inner = typeof e === 'string' ? parseCidr(e) : undefined;
    if (!inner) {
      causes.push(invalidValue(at, e, CIDR_MESSAGE));
      return;
    }
    const width = cidr.family === 4 ? 32 : 128;
    const mask = ((1n << BigInt(cidr.bits)) - 1n) << BigInt(width - cidr.bits);
    const inside = inner.family === cidr.family && (inner.network & mask) === cidr.network;
    if (!inside || cidr.bits >= inner.bits)
      causes.push(invalidValue(at, e, 'must be a strict subset of `cidr`'));
  });
  return causes;
}

function validatePeer(peer: unknown, path: string): StatusCause[] {
  const p = isObject(peer) ? peer : {};
  const selectors = isObject(p.podSelector) || isObject(p.namespaceSelector) ? 1 : 0;
  const blocks = isObject(p.ipBlock) ? 1 : 0;
  if (selectors + blocks === 0) return [required(path, 'must specify a peer')];
  if (selectors + blocks > 1) return [forbidden(path, 'may not specify more than 1 peer')];
  return isObject(p.ipBlock) ? validateIpBlock(p.ipBlock, `${path}.ipBlock`) : [];
}

function validateRules(rules: unknown, path: string, peersField: 'from' | 'to'): StatusCause[] {
  if (!Array.isArray(rules)) return [];
  return rules.flatMap((rule, i) => {
    const r = isObject(rule) ? rule : {};
    const at = `${path}[${i}]`;
    const ports = Array.isArray(r.ports) ? r.ports : [];
    const peers = Array.isArray(r[peersField]) ? (r[peersField] as unknown[]) : [];
    return [
      ...ports.flatMap((p, j) => validatePort(p, `${at}.ports[${j}]`)),
      ...peers.flatMap((p, j) => validatePeer(p, `${at}.${peersField}[${j}]`)),
    ];
  });
}

export function validateNetworkPolicy(obj: JsonObject): StatusCause[] {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const causes: StatusCause[] = [];
  if (!isObject(spec.podSelector)) causes.push(required('spec.podSelector'));
  causes.push(...validateRules(spec.ingress, 'spec.ingress', 'from'));
  causes.push(...validateRules(spec.egress, 'spec.egress', 'to'));
  if (Array.isArray(spec.policyTypes)) {
    if (spec.policyTypes.length > POLICY_TYPE_VALUES.length) {
      causes.push(
        invalidValue('spec.policyTypes', spec.policyTypes, 'may not specify more than two policyTypes'),
      );
      return causes;
    }
    spec.policyTypes.forEach((t, i) => {
      if (!POLICY_TYPE_VALUES.includes(String(t))) {
        causes.push(notSupported(`spec.policyTypes[${i}]`, t, POLICY_TYPE_VALUES));
      }
    });
  }
  return causes;
}
