/**
 * `npx tsx test/cluster/sync-packaging.ts`: after an edit of deploy/ironlb.yaml, brings the other
 * two install paths along: copies it to deploy/kustomize/base/ironlb.yaml, and regenerates the Helm
 * chart's crds/ironlb.yaml (the CRDs, which Helm installs before templates), templates/rbac.yaml
 * (RBAC documents) and templates/webhook.yaml (the webhook Service and configuration), comments
 * included, the namespace becoming the chart value. Workloads are templates with values, so edits
 * there are made by hand; packaging.test.ts says when anything differs.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** The manifest's documents of these kinds, joined, the namespace templated (pure). */
function chartPart(manifest: string, kinds: RegExp, templated: boolean): string {
  const docs = manifest.split(/^---$/m).map((d) => d.trim());
  // The file header (install instructions) rides on the first document: it does not belong here.
  const picked = docs.filter((d) => kinds.test(d)).map(dropFileHeader);
  const body = picked
    .map((d) =>
      templated
        ? d
            .replace(/namespace: ironlb-system\b/g, 'namespace: {{ .Values.namespace.name }}')
            .replace(/kubernetes\.io\/metadata\.name: ironlb-system\b/g, 'kubernetes.io/metadata.name: {{ .Values.namespace.name }}')
        : d,
    )
    .join('\n---\n');
  return `# Generated from deploy/ironlb.yaml by test/cluster/sync-packaging.ts: edit that file, then run it.\n${body}\n`;
}

/** The manifest's leading header comment (up to the first blank comment line pair's end), if any. */
function dropFileHeader(doc: string): string {
  if (!doc.startsWith('# ironlb: bare-metal')) return doc;
  const lines = doc.split('\n');
  const end = lines.findIndex((l) => l.startsWith('# admission webhook (its configuration last'));
  return lines.slice(end + 1).join('\n');
}

/** The chart's rbac.yaml for a manifest's text (pure). */
export function chartRbac(manifest: string): string {
  return chartPart(manifest, /^kind: (ClusterRole|Role|ClusterRoleBinding|RoleBinding)$/m, true);
}

/** The chart's crds/ file (plain YAML: Helm does not template crds/). */
export function chartCrds(manifest: string): string {
  return chartPart(manifest, /^kind: CustomResourceDefinition$/m, false);
}

/** The chart's webhook.yaml (the webhook Service and its ValidatingWebhookConfiguration). */
export function chartWebhook(manifest: string): string {
  return chartPart(manifest, /^kind: (ValidatingWebhookConfiguration|Service)$/m, true);
}

if (process.argv[1] === import.meta.filename) {
  const manifest = readFileSync(join(root, 'deploy/ironlb.yaml'), 'utf8');
  copyFileSync(join(root, 'deploy/ironlb.yaml'), join(root, 'deploy/kustomize/base/ironlb.yaml'));
  writeFileSync(join(root, 'deploy/helm/ironlb/templates/rbac.yaml'), chartRbac(manifest));
  mkdirSync(join(root, 'deploy/helm/ironlb/crds'), { recursive: true });
  writeFileSync(join(root, 'deploy/helm/ironlb/crds/ironlb.yaml'), chartCrds(manifest));
  writeFileSync(join(root, 'deploy/helm/ironlb/templates/webhook.yaml'), chartWebhook(manifest));
  console.error('synced deploy/kustomize/base/ironlb.yaml and the chart (crds/, templates/rbac.yaml, templates/webhook.yaml)');
}
