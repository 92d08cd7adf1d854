/**
 * Stands in for `js-yaml` in the function bundles (scripts/build.ts aliases it here), so a bundle
 * carries one YAML parser, `yaml`, not two. Only @kubernetes/client-node imports js-yaml, for
 * `KubeConfig.loadFromString` and its `loadYaml`/`loadAllYaml`/`dumpYaml` helpers, none of which
 * the control plane calls (it builds its KubeConfig from options). The three functions it uses
 * keep their meaning: YAML 1.2 core schema in, plain JS values out. js-yaml's options are ignored.
 */
import { parse, parseAllDocuments, stringify } from 'yaml';

export function load(text: string): unknown {
  return parse(text);
}

export function loadAll(text: string): unknown[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS();
  });
}

export function dump(value: unknown): string {
  return stringify(value);
}

export default { load, loadAll, dump };
