/**
 * The validation the apiserver would do for the kinds served here, limited to the rules whose
 * violation a caller of this project could plausibly hit. Messages follow apimachinery's wording.
 */
import type { StatusCause } from './errors';
import { isObject, type JsonObject } from './json';
import type { ResourceType } from './resources';
import { type LabelSelector, matchesRequirements, selectorRequirements } from './selectors';
import { invalidValue, required, validateHpa, validateNetworkPolicy } from './validation-rules';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Namespaces use DNS-1123 labels, Services DNS-1035 labels, everything else DNS-1123 subdomains. */
export function validateName(resource: ResourceType, name: string): StatusCause[] {
  if (resource.kind === 'Namespace') {
    if (name.length > 63 || !DNS1123_LABEL.test(name)) {
      return [
        invalidValue(
          'metadata.name',
          name,
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
      ];
    }
    return [];
  }
  if (resource.kind === 'Service') {
    if (name.length > 63 || !DNS1035_LABEL.test(name)) {
      return [
        invalidValue(
          'metadata.name',
          name,
          "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
      ];
    }
    return [];
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return [
      invalidValue(
        'metadata.name',
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    ];
  }
  return [];
}

function labelsOf(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
}

function validateDeployment(obj: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = isObject(obj.spec) ? obj.spec : {};
  if (typeof spec.replicas === 'number' && spec.replicas < 0) {
    causes.push(invalidValue('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
  }
  const selector = spec.selector;
  const template = isObject(spec.template) ? spec.template : {};
  const templateMeta = isObject(template.metadata) ? template.metadata : {};
  const templateLabels = labelsOf(templateMeta.labels);
  if (!isObject(selector)) {
    causes.push(required('spec.selector'));
  } else {
    const reqs = selectorRequirements(selector as LabelSelector);
    if (reqs.length === 0) {
      causes.push(invalidValue('spec.selector', selector, 'empty selector is invalid for deployment'));
    } else if (!matchesRequirements(reqs, templateLabels)) {
      causes.push(
        invalidValue(
          'spec.template.metadata.labels',
          templateLabels,
          '`selector` does not match template `labels`',
        ),
      );
    }
  }
  const podSpec = isObject(template.spec) ? template.spec : {};
  const containers = podSpec.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(required('spec.template.spec.containers'));
  } else {
    containers.forEach((c, i) => {
      if (!isObject(c) || typeof c.name !== 'string' || c.name === '') {
        causes.push(required(`spec.template.spec.containers[${i}].name`));
      }
      if (!isObject(c) || typeof c.image !== 'string' || c.image === '') {
        causes.push(required(`spec.template.spec.containers[${i}].image`));
      }
    });
  }
  return causes;
}

function validatePod(obj: JsonObject): StatusCause[] {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) return [required('spec.containers')];
  const causes: StatusCause[] = [];
  containers.forEach((c, i) => {
    if (!isObject(c) || typeof c.name !== 'string' || c.name === '') {
      causes.push(required(`spec.containers[${i}].name`));
    }
    if (!isObject(c) || typeof c.image !== 'string' || c.image === '') {
      causes.push(required(`spec.containers[${i}].image`));
    }
  });
  return causes;
}

function validateSecret(obj: JsonObject): StatusCause[] {
  if (!isObject(obj.data)) return [];
  return Object.entries(obj.data)
    .filter(([, v]) => typeof v !== 'string' || !BASE64.test(v))
    .map(([k, v]) => invalidValue(`data[${k}]`, v, 'illegal base64 data'));
}

function validatePdb(obj: JsonObject): StatusCause[] {
  const spec = isObject(obj.spec) ? obj.spec : {};
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    return [invalidValue('spec', spec, 'minAvailable and maxUnavailable cannot be both set')];
  }
  return [];
}

export function validateObject(resource: ResourceType, obj: JsonObject): StatusCause[] {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const causes: StatusCause[] = [];
  if (typeof meta.name !== 'string' || meta.name === '') {
    causes.push(required('metadata.name', 'name or generateName is required'));
  } else {
    causes.push(...validateName(resource, meta.name));
  }
  switch (resource.kind) {
    case 'Deployment':
    case 'ReplicaSet':
      causes.push(...validateDeployment(obj));
      break;
    case 'Pod':
      causes.push(...validatePod(obj));
      break;
    case 'HorizontalPodAutoscaler':
      causes.push(...validateHpa(obj));
      break;
    case 'NetworkPolicy':
      causes.push(...validateNetworkPolicy(obj));
      break;
    case 'Secret':
      causes.push(...validateSecret(obj));
      break;
    case 'PodDisruptionBudget':
      causes.push(...validatePdb(obj));
      break;
  }
  return causes;
}
