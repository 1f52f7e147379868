/** Applying deploy/ manifests to a real API server, and minting ServiceAccount identities. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { apply } from '../integration/crd-helpers.js';

const root = join(import.meta.dirname, '..', '..');

/** The objects of a manifest file under the repo (e.g. deploy/ironlb.yaml). */
export function loadManifest(rel: string): KubernetesObject[] {
  const docs = parseAllDocuments(readFileSync(join(root, rel), 'utf8'));
  return docs.map((d) => d.toJS() as KubernetesObject | null).filter((o): o is KubernetesObject => o !== null && typeof o === 'object');
}

/**
 * Server-side apply (what `kubectl apply --server-side` does) of each object as written in the
 * manifest, optionally as a dry run, in the given order (the manifest's order: definitions and
 * Namespace first). The raw document is sent: client-node's typed serializer would drop the
 * `x-kubernetes-*` keys of the CRD schemas (their CEL rules and list types).
 */
export async function applyObjects(kc: KubeConfig, objs: readonly KubernetesObject[], dryRun: boolean): Promise<void> {
  for (const o of objs) {
    try {
      await apply(kc, [o], { dryRun, fieldManager: 'ironlb-test' });
    } catch (err) {
      throw new Error(`${dryRun ? 'dry-run ' : ''}apply of ${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name} failed`, { cause: err });
    }
  }
}

/** A kubeconfig (YAML) that authenticates as a ServiceAccount with a fresh TokenRequest token. */
export async function serviceAccountKubeconfig(admin: KubeConfig, namespace: string, name: string, server: string, caPem: string): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  const token = tr.status?.token;
  if (token === undefined) throw new Error(`no token for ${namespace}/${name}`);
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: `${namespace}:${name}`, user: { token } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: `${namespace}:${name}` } }],
    'current-context': 'c',
  });
}
