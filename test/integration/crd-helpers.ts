/**
 * Helpers for the ironlb.io tests on the real API server. Manifests go in by server-side apply of
 * the raw document (what `kubectl apply --server-side` sends): client-node's typed serializer
 * drops `x-kubernetes-*` keys of CRD schemas outside `items` (V1JSONSchemaProps maps them under
 * other names), which silently loses list-type and CEL rules.
 */
import { type RequestOptions, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { eventually } from './helpers.js';

const root = join(import.meta.dirname, '..', '..');

/** Where each kind lives in the API (the kinds the deploy manifests and tests use). */
const RESOURCES: Record<string, { path: string; plural: string; namespaced: boolean }> = {
  CustomResourceDefinition: { path: '/apis/apiextensions.k8s.io/v1', plural: 'customresourcedefinitions', namespaced: false },
  Namespace: { path: '/api/v1', plural: 'namespaces', namespaced: false },
  ServiceAccount: { path: '/api/v1', plural: 'serviceaccounts', namespaced: true },
  Service: { path: '/api/v1', plural: 'services', namespaced: true },
  ConfigMap: { path: '/api/v1', plural: 'configmaps', namespaced: true },
  ClusterRole: { path: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { path: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterrolebindings', namespaced: false },
  Role: { path: '/apis/rbac.authorization.k8s.io/v1', plural: 'roles', namespaced: true },
  RoleBinding: { path: '/apis/rbac.authorization.k8s.io/v1', plural: 'rolebindings', namespaced: true },
  Deployment: { path: '/apis/apps/v1', plural: 'deployments', namespaced: true },
  DaemonSet: { path: '/apis/apps/v1', plural: 'daemonsets', namespaced: true },
  ValidatingWebhookConfiguration: { path: '/apis/admissionregistration.k8s.io/v1', plural: 'validatingwebhookconfigurations', namespaced: false },
  IPAddressPool: { path: '/apis/ironlb.io/v1beta1', plural: 'ipaddresspools', namespaced: true },
  L2Advertisement: { path: '/apis/ironlb.io/v1beta1', plural: 'l2advertisements', namespaced: true },
  ServiceL2Status: { path: '/apis/ironlb.io/v1beta1', plural: 'servicel2statuses', namespaced: true },
};

/** An API error with the server's Status message. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      /* not JSON */
    }
    super(`HTTP ${code}: ${message}`);
  }
  /** The Status message (what kubectl prints). */
  get status(): string {
    try {
      return (JSON.parse(this.body) as { message?: string }).message ?? this.body;
    } catch {
      return this.body;
    }
  }
}

/** One raw HTTP call with the kubeconfig's credentials; resolves with status, body and warnings. */
export async function raw(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: string,
  contentType = 'application/json',
  accept = 'application/json',
): Promise<{ code: number; body: string; warnings: string[] }> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('no cluster');
  const url = new URL(path, cluster.server);
  const opts: RequestOptions = { method, headers: { accept, ...(body !== undefined ? { 'content-type': contentType } : {}) } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, timeout: 30_000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => {
        // Warning headers ("299 - \"text\"") may arrive joined by commas: take each quoted text.
        const w = res.headers['warning'];
        const joined = (Array.isArray(w) ? w : w === undefined ? [] : [w]).join(', ');
        const warnings = [...joined.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replace(/\\(.)/g, '$1'));
        resolve({ code: res.statusCode ?? 0, body: data, warnings });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function uri(o: KubernetesObject, withName: boolean): string {
  const r = RESOURCES[o.kind ?? ''];
  if (r === undefined) throw new Error(`crd-helpers: unknown kind ${o.kind}`);
  const ns = r.namespaced ? `/namespaces/${o.metadata?.namespace ?? 'default'}` : '';
  return `${r.path}${ns}/${r.plural}${withName ? `/${encodeURIComponent(o.metadata?.name ?? '')}` : ''}`;
}

/** The objects of a YAML text. */
export function parseObjects(text: string): KubernetesObject[] {
  const docs = parseAllDocuments(text);
  return (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as KubernetesObject | null).filter((o): o is KubernetesObject => o !== null && typeof o === 'object');
}

/** The objects of a manifest under the repo. */
export function manifest(rel: string): KubernetesObject[] {
  return parseObjects(readFileSync(join(root, rel), 'utf8'));
}

/** An object to send: any kind, with whatever fields it has. */
export type AnyObject = KubernetesObject & { spec?: unknown; status?: unknown; data?: unknown };

/** Server-side apply of each object as sent (throws ApiError on refusal); returns the warnings. */
export async function apply(kc: KubeConfig, objs: readonly AnyObject[], opts: { dryRun?: boolean; fieldManager?: string } = {}): Promise<string[]> {
  const warnings: string[] = [];
  for (const o of objs) {
    const q = `?fieldManager=${opts.fieldManager ?? 'ironlb-test'}&force=true&fieldValidation=Strict${opts.dryRun === true ? '&dryRun=All' : ''}`;
    const r = await raw(kc, 'PATCH', uri(o, true) + q, JSON.stringify(o), 'application/apply-patch+yaml');
    warnings.push(...r.warnings);
    if (r.code >= 300) throw new ApiError(r.code, r.body);
  }
  return warnings;
}

/** Create (POST) of one object; resolves with the warnings or throws ApiError. */
export async function create(kc: KubeConfig, o: KubernetesObject): Promise<string[]> {
  const r = await raw(kc, 'POST', `${uri(o, false)}?fieldValidation=Strict`, JSON.stringify(o));
  if (r.code >= 300) throw new ApiError(r.code, r.body);
  return r.warnings;
}

/** Delete of one object (404 is fine); resolves with the warnings or throws ApiError. */
export async function remove(kc: KubeConfig, o: KubernetesObject): Promise<string[]> {
  const r = await raw(kc, 'DELETE', uri(o, true));
  if (r.code >= 300 && r.code !== 404) throw new ApiError(r.code, r.body);
  return r.warnings;
}

/** The error message of an apply that must be refused. */
export async function refusal(kc: KubeConfig, o: KubernetesObject): Promise<string> {
  try {
    await apply(kc, [o]);
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
  throw new Error(`${o.kind} ${o.metadata?.name} was accepted`);
}

/** The custom resource definitions of deploy/ironlb.yaml. */
export function crdObjects(): KubernetesObject[] {
  return manifest('deploy/ironlb.yaml').filter((o) => o.kind === 'CustomResourceDefinition');
}

/** Applies deploy/ironlb.yaml's CRDs and waits until the API serves the resources. */
export async function installCrds(kc: KubeConfig): Promise<void> {
  await apply(kc, crdObjects());
  const custom = kc.makeApiClient(CustomObjectsApi);
  await eventually(
    'ironlb.io CRDs established',
    async () => {
      const r = await custom.getAPIResources({ group: 'ironlb.io', version: 'v1beta1' });
      const names = new Set(r.resources.map((x) => x.name));
      return names.has('ipaddresspools') && names.has('l2advertisements') && names.has('servicel2statuses');
    },
    30_000,
    100,
  );
}

/** An IPAddressPool object. */
export function pool(name: string, spec: Record<string, unknown>, namespace = 'ironlb-system', labels?: Record<string, string>): KubernetesObject & { spec: unknown } {
  return { apiVersion: 'ironlb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace, ...(labels !== undefined ? { labels } : {}) }, spec };
}

/** An L2Advertisement object. */
export function advertisement(name: string, spec: Record<string, unknown> = {}, namespace = 'ironlb-system'): KubernetesObject & { spec: unknown } {
  return { apiVersion: 'ironlb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace }, spec };
}

/** Reads an ironlb.io object (undefined when absent). */
export async function getObject<T = Record<string, unknown>>(kc: KubeConfig, kind: 'IPAddressPool' | 'L2Advertisement' | 'ServiceL2Status', namespace: string, name: string): Promise<T | undefined> {
  const r = await raw(kc, 'GET', uri({ apiVersion: 'ironlb.io/v1beta1', kind, metadata: { name, namespace } }, true));
  if (r.code === 404) return undefined;
  if (r.code >= 300) throw new ApiError(r.code, r.body);
  return JSON.parse(r.body) as T;
}
