/**
 * Server-side printing: the `meta.k8s.io` Table kubectl asks for with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Columns, their types, priorities
 * (1 = shown only with `-o wide`) and cell formats follow the apiserver's printers
 * (pkg/printers/internalversion/printers.go); kinds without a printer get Name/Age, as
 * resources without additionalPrinterColumns do.
 */
import { isObject, type JsonObject } from './json';
import type { ResourceType } from './resources';
import { type LabelSelector, selectorString } from './selectors';

export interface TableRequest {
  version: 'v1' | 'v1beta1';
  includeObject: 'None' | 'Metadata' | 'Object';
}

/** The Table form a request asks for in its Accept header, or undefined for plain JSON. */
export function tableRequest(accept: string | undefined, query: URLSearchParams): TableRequest | undefined {
  if (!accept) return undefined;
  for (const clause of accept.split(',')) {
    const [type, ...params] = clause.split(';').map((p) => p.trim());
    if (type !== 'application/json' && type !== '*/*') continue;
    const p = Object.fromEntries(params.map((x) => x.split('=').map((y) => y.trim()) as [string, string]));
    if (p.as === undefined) return undefined; // plain JSON preferred before any Table clause
    if (p.as !== 'Table' || p.g !== 'meta.k8s.io' || (p.v !== 'v1' && p.v !== 'v1beta1')) continue;
    const include = query.get('includeObject');
    return {
      version: p.v,
      includeObject: include === 'None' || include === 'Object' ? include : 'Metadata',
    };
  }
  return undefined;
}

interface Column {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  priority?: number;
  cell: (obj: JsonObject, nowMs: number) => string | number;
}

function at(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const p of path.split('.')) v = isObject(v) ? v[p] : undefined;
  return v;
}

function num(obj: unknown, path: string): number {
  const v = at(obj, path);
  return typeof v === 'number' ? v : 0;
}

function arr(obj: unknown, path: string): JsonObject[] {
  const v = at(obj, path);
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** apimachinery's duration.HumanDuration, as the Age column renders it. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 2) return `${days}d`;
  if (hours < 24 * 365 * 8) {
    const dy = days % 365;
    return dy === 0 ? `${Math.floor(days / 365)}y` : `${Math.floor(days / 365)}y${dy}d`;
  }
  return `${Math.floor(days / 365)}y`;
}

const NAME: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description:
    'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  cell: (o) => String(at(o, 'metadata.name') ?? ''),
};

const AGE: Column = {
  name: 'Age',
  type: 'string',
  description:
    'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  cell: (o, nowMs) => {
    const t = at(o, 'metadata.creationTimestamp');
    return typeof t === 'string' ? humanDuration(nowMs - Date.parse(t)) : '<unknown>';
  },
};

function containerNames(containers: JsonObject[]): string {
  return containers.map((c) => String(c.name ?? '')).join(',');
}

function images(containers: JsonObject[]): string {
  return containers.map((c) => String(c.image ?? '')).join(',');
}

function selectorText(sel: unknown): string {
  if (!isObject(sel)) return '<none>';
  const text = selectorString(sel as LabelSelector);
  return text === '' ? '<none>' : text;
}

function wide(name: string, description: string, cell: Column['cell']): Column {
  return { name, type: 'string', description, priority: 1, cell };
}

const TEMPLATE_COLUMNS: Column[] = [
  wide('Containers', 'Names of each container in the template.', (o) =>
    containerNames(arr(o, 'spec.template.spec.containers')),
  ),
  wide('Images', 'Images referenced by each container in the template.', (o) =>
    images(arr(o, 'spec.template.spec.containers')),
  ),
  wide(
    'Selector',
    'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.',
    (o) => selectorText(at(o, 'spec.selector')),
  ),
];

function podReady(o: JsonObject): string {
  const statuses = arr(o, 'status.containerStatuses');
  const total = arr(o, 'spec.containers').length;
  if (statuses.length > 0) return `${statuses.filter((c) => c.ready === true).length}/${total}`;
  const ready = arr(o, 'status.conditions').some((c) => c.type === 'Ready' && c.status === 'True');
  return `${ready ? total : 0}/${total}`;
}

function podStatus(o: JsonObject): string {
  if (at(o, 'metadata.deletionTimestamp') !== undefined) return 'Terminating';
  const reason = at(o, 'status.reason');
  if (typeof reason === 'string' && reason !== '') return reason;
  for (const c of arr(o, 'status.containerStatuses')) {
    const waiting = at(c, 'state.waiting.reason');
    if (typeof waiting === 'string' && waiting !== '') return waiting;
    const terminated = at(c, 'state.terminated.reason');
    if (typeof terminated === 'string' && terminated !== '') return terminated;
  }
  const phase = at(o, 'status.phase');
  return typeof phase === 'string' ? phase : 'Unknown';
}

function hpaTargets(o: JsonObject): string {
  const specs = arr(o, 'spec.metrics');
  if (specs.length === 0) return '<none>';
  const current = arr(o, 'status.currentMetrics');
  const parts = specs.map((m, i) => {
    const type = String(m.type ?? '');
    const key =
      type === 'Resource'
        ? 'resource'
        : type === 'ContainerResource'
          ? 'containerResource'
          : type === 'Pods'
            ? 'pods'
            : type === 'Object'
              ? 'object'
              : 'external';
    const spec = isObject(m[key]) ? (m[key] as JsonObject) : {};
    const cur = current[i] && isObject(current[i]![key]) ? (current[i]![key] as JsonObject) : {};
    const target = isObject(spec.target) ? spec.target : {};
    const now = isObject(cur.current) ? cur.current : {};
    let text: string;
    if (target.averageUtilization !== undefined) {
      const c = now.averageUtilization;
      text = `${c === undefined ? '<unknown>' : `${String(c)}%`}/${String(target.averageUtilization)}%`;
    } else if (target.averageValue !== undefined) {
      text = `${now.averageValue === undefined ? '<unknown>' : String(now.averageValue)}/${String(target.averageValue)}`;
    } else {
      text = `${now.value === undefined ? '<unknown>' : String(now.value)}/${String(target.value ?? '<unknown>')}`;
    }
    const name = type === 'Resource' || type === 'ContainerResource' ? String(spec.name ?? '') : '';
    return name ? `${name}: ${text}` : text;
  });
  if (parts.length > 2) return `${parts.slice(0, 2).join(', ')} + ${parts.length - 2} more...`;
  return parts.join(', ');
}

function servicePorts(o: JsonObject): string {
  const ports = arr(o, 'spec.ports');
  if (ports.length === 0) return '<none>';
  return ports
    .map(
      (p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`,
    )
    .join(',');
}

function externalIp(o: JsonObject): string {
  const type = at(o, 'spec.type');
  const external = at(o, 'spec.externalIPs');
  const ips = Array.isArray(external) ? external.map(String) : [];
  if (type === 'LoadBalancer') {
    const ingress = arr(o, 'status.loadBalancer.ingress').map((i) => String(i.ip ?? i.hostname ?? ''));
    const all = [...ingress, ...ips];
    return all.length > 0 ? all.join(',') : '<pending>';
  }
  if (type === 'ExternalName') return String(at(o, 'spec.externalName') ?? '<none>');
  return ips.length > 0 ? ips.join(',') : '<none>';
}

function nodeStatus(o: JsonObject): string {
  const ready = arr(o, 'status.conditions').find((c) => c.type === 'Ready');
  const base = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
  return at(o, 'spec.unschedulable') === true ? `${base},SchedulingDisabled` : base;
}

function nodeRoles(o: JsonObject): string {
  const labels = at(o, 'metadata.labels');
  const roles = isObject(labels)
    ? Object.keys(labels)
        .filter((k) => k.startsWith('node-role.kubernetes.io/'))
        .map((k) => k.slice('node-role.kubernetes.io/'.length))
        .filter((r) => r !== '')
    : [];
  return roles.length > 0 ? roles.sort().join(',') : '<none>';
}

function count(o: JsonObject, ...paths: string[]): number {
  return paths.reduce((n, p) => {
    const v = at(o, p);
    return n + (isObject(v) ? Object.keys(v).length : Array.isArray(v) ? v.length : 0);
  }, 0);
}

function intOrString(v: unknown): string {
  return v === undefined || v === null ? 'N/A' : String(v);
}

function int(name: string, description: string, path: string): Column {
  return { name, type: 'integer', description, cell: (o) => num(o, path) };
}

function str(name: string, description: string, cell: Column['cell']): Column {
  return { name, type: 'string', description, cell };
}

const PRINTERS: Record<string, Column[]> = {
  Deployment: [
    NAME,
    str(
      'Ready',
      'Number of the pod with ready state',
      (o) => `${num(o, 'status.readyReplicas')}/${num(o, 'spec.replicas')}`,
    ),
    int(
      'Up-to-date',
      'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      'status.updatedReplicas',
    ),
    int(
      'Available',
      'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      'status.availableReplicas',
    ),
    AGE,
    ...TEMPLATE_COLUMNS,
  ],
  ReplicaSet: [
    NAME,
    int('Desired', 'Replicas is the number of desired replicas.', 'spec.replicas'),
    int('Current', 'Replicas is the most recently observed number of replicas.', 'status.replicas'),
    int('Ready', 'The number of ready replicas for this replica set.', 'status.readyReplicas'),
    AGE,
    ...TEMPLATE_COLUMNS,
  ],
  Pod: [
    NAME,
    str('Ready', 'The aggregate readiness state of this pod for accepting traffic.', podReady),
    str('Status', 'The aggregate status of the containers in this pod.', podStatus),
    {
      name: 'Restarts',
      type: 'string',
      description:
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      cell: (o) =>
        String(
          arr(o, 'status.containerStatuses').reduce(
            (n, c) => n + (typeof c.restartCount === 'number' ? c.restartCount : 0),
            0,
          ),
        ),
    },
    AGE,
    wide('IP', 'The IP address assigned to the pod', (o) => String(at(o, 'status.podIP') ?? '<none>')),
    wide('Node', 'The name of the node the pod is assigned to', (o) =>
      String(at(o, 'spec.nodeName') ?? '<none>'),
    ),
    wide('Nominated Node', 'The name of the node the pod is nominated to', (o) =>
      String(at(o, 'status.nominatedNodeName') ?? '<none>'),
    ),
    wide('Readiness Gates', 'The readiness gates of the pod', (o) => {
      const gates = arr(o, 'spec.readinessGates');
      return gates.length === 0 ? '<none>' : gates.map((g) => String(g.conditionType)).join(',');
    }),
  ],
  HorizontalPodAutoscaler: [
    NAME,
    str(
      'Reference',
      'The reference to the scaled target.',
      (o) =>
        `${String(at(o, 'spec.scaleTargetRef.kind') ?? '')}/${String(at(o, 'spec.scaleTargetRef.name') ?? '')}`,
    ),
    str('Targets', 'The current and target metrics.', hpaTargets),
    str('MinPods', 'The lower limit for the number of pods.', (o) =>
      typeof at(o, 'spec.minReplicas') === 'number' ? String(at(o, 'spec.minReplicas')) : '<unset>',
    ),
    int('MaxPods', 'The upper limit for the number of pods.', 'spec.maxReplicas'),
    int('Replicas', 'The current number of replicas.', 'status.currentReplicas'),
    AGE,
  ],
  Node: [
    NAME,
    str('Status', 'The status of the node', nodeStatus),
    str('Roles', 'The roles of the node', nodeRoles),
    AGE,
    str('Version', 'Kubelet Version reported by the node.', (o) =>
      String(at(o, 'status.nodeInfo.kubeletVersion') ?? ''),
    ),
    wide(
      'Internal-IP',
      'List of addresses reachable to the node.',
      (o) => (arr(o, 'status.addresses').find((a) => a.type === 'InternalIP')?.address as string) ?? '<none>',
    ),
    wide(
      'External-IP',
      'List of addresses reachable to the node.',
      (o) => (arr(o, 'status.addresses').find((a) => a.type === 'ExternalIP')?.address as string) ?? '<none>',
    ),
    wide(
      'OS-Image',
      'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).',
      (o) => String(at(o, 'status.nodeInfo.osImage') ?? '<unknown>'),
    ),
    wide(
      'Kernel-Version',
      'Kernel Version reported by the node from "uname -r" (e.g. 3.16.0-0.bpo.4-amd64).',
      (o) => String(at(o, 'status.nodeInfo.kernelVersion') ?? '<unknown>'),
    ),
    wide(
      'Container-Runtime',
      'Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
      (o) => String(at(o, 'status.nodeInfo.containerRuntimeVersion') ?? '<unknown>'),
    ),
  ],
  Service: [
    NAME,
    str('Type', 'The type of the service.', (o) => String(at(o, 'spec.type') ?? 'ClusterIP')),
    str('Cluster-IP', 'The IP address of the service.', (o) => String(at(o, 'spec.clusterIP') ?? '<none>')),
    str('External-IP', 'The external IP address of the service.', externalIp),
    str('Port(s)', 'The ports of the service.', servicePorts),
    AGE,
    wide(
      'Selector',
      'Route service traffic to pods with label keys and values matching this selector.',
      (o) => {
        const sel = at(o, 'spec.selector');
        return isObject(sel) && Object.keys(sel).length > 0
          ? Object.entries(sel)
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(',')
          : '<none>';
      },
    ),
  ],
  Secret: [
    NAME,
    str('Type', 'The type of the secret.', (o) => String(o.type ?? 'Opaque')),
    {
      name: 'Data',
      type: 'string',
      description: 'The number of data in the secret.',
      cell: (o) => String(count(o, 'data')),
    },
    AGE,
  ],
  ConfigMap: [
    NAME,
    {
      name: 'Data',
      type: 'string',
      description: 'Data contains the configuration data.',
      cell: (o) => String(count(o, 'data', 'binaryData')),
    },
    AGE,
  ],
  ServiceAccount: [
    NAME,
    {
      name: 'Secrets',
      type: 'string',
      description:
        'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.',
      cell: (o) => String(count(o, 'secrets')),
    },
    AGE,
  ],
  NetworkPolicy: [
    NAME,
    str('Pod-Selector', 'The pods selected by this policy.', (o) => selectorText(at(o, 'spec.podSelector'))),
    AGE,
  ],
  Namespace: [
    NAME,
    str('Status', 'The status of the namespace', (o) => String(at(o, 'status.phase') ?? 'Active')),
    AGE,
  ],
  PodDisruptionBudget: [
    NAME,
    str('Min Available', 'The minimum number or percentage of available pods this budget requires.', (o) =>
      intOrString(at(o, 'spec.minAvailable')),
    ),
    str(
      'Max Unavailable',
      'The maximum number or percentage of unavailable pods this budget requires.',
      (o) => intOrString(at(o, 'spec.maxUnavailable')),
    ),
    int(
      'Allowed Disruptions',
      'Calculated number of pods that may be disrupted at this time.',
      'status.disruptionsAllowed',
    ),
    AGE,
  ],
};

function columnsOf(kind: string): Column[] {
  return PRINTERS[kind] ?? [NAME, AGE];
}

/** The Table for `objects` (full objects, with apiVersion and kind). */
export function tableOf(
  resource: ResourceType,
  objects: readonly JsonObject[],
  request: TableRequest,
  listMeta: JsonObject,
  nowMs: number,
): JsonObject {
  const columns = columnsOf(resource.kind);
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${request.version}`,
    metadata: listMeta,
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description,
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => {
      const row: JsonObject = { cells: columns.map((c) => c.cell(o, nowMs)) };
      if (request.includeObject === 'Object') row.object = o;
      else if (request.includeObject === 'Metadata') {
        row.object = {
          kind: 'PartialObjectMetadata',
          apiVersion: `meta.k8s.io/${request.version}`,
          metadata: isObject(o.metadata) ? o.metadata : {},
        };
      }
      return row;
    }),
  };
}
