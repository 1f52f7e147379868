/**
 * Rendering the three ways users install ironlb (deploy/ironlb.yaml, the Helm chart, the kustomize
 * base) into comparable objects, and the helm binary they need (built from its Go module).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { clusterBinDir } from './cluster.js';

const here = import.meta.dirname;
const root = join(here, '..', '..');

/** A Kubernetes object as parsed from YAML. */
export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

/** helm, built from helm.sh/helm/v3 (build-helm.sh; cached). */
export function helmBin(): string {
  const out = execFileSync('bash', [join(here, 'build-helm.sh')], { stdio: ['ignore', 'pipe', 'inherit'] })
    .toString()
    .trim();
  return out.split('\n').pop() ?? '';
}

/** The objects of a multi-document YAML text (empty documents dropped). */
export function parseObjects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

/** "Kind namespace/name": one object's identity. */
export function objKey(o: Obj): string {
  return `${o.kind ?? '?'} ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** deploy/ironlb.yaml's objects. */
export function manifestObjects(): Obj[] {
  return parseObjects(readFileSync(join(root, 'deploy/ironlb.yaml'), 'utf8'));
}

/** `helm template ironlb deploy/helm/ironlb --include-crds [args]`'s objects (what `helm install` creates). */
export function helmObjects(args: readonly string[] = []): Obj[] {
  return parseObjects(execFileSync(helmBin(), ['template', 'ironlb', join(root, 'deploy/helm/ironlb'), '--include-crds', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString());
}

/** `kubectl kustomize DIR`'s objects (kubectl built with the cluster, kustomize built in). */
export function kustomizeObjects(dir: string): Obj[] {
  return parseObjects(execFileSync(join(clusterBinDir(), 'kubectl'), ['kustomize', join(root, dir)], { stdio: ['ignore', 'pipe', 'pipe'] }).toString());
}
