/**
 * `npx tsx test/cluster/sync-packaging.ts`: after an edit of deploy/ironlb.yaml, brings the other
 * two install paths along: copies it to deploy/kustomize/base/ironlb.yaml, and regenerates the Helm
 * chart's templates/rbac.yaml from its RBAC documents (comments included; the namespace becomes the
 * chart value). Workloads are templates with values, so edits there are made by hand;
 * packaging.test.ts says when anything differs.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** The chart's rbac.yaml for a manifest's text (pure). */
export function chartRbac(manifest: string): string {
  const docs = manifest.split(/^---$/m).map((d) => d.trim());
  const rbac = docs.filter((d) => /^kind: (ClusterRole|Role|ClusterRoleBinding|RoleBinding)$/m.test(d));
  const body = rbac.map((d) => d.replace(/namespace: ironlb-system\b/g, 'namespace: {{ .Values.namespace.name }}')).join('\n---\n');
  return `# Generated from deploy/ironlb.yaml by test/cluster/sync-packaging.ts: edit that file, then run it.\n${body}\n`;
}

if (process.argv[1] === import.meta.filename) {
  const manifest = readFileSync(join(root, 'deploy/ironlb.yaml'), 'utf8');
  copyFileSync(join(root, 'deploy/ironlb.yaml'), join(root, 'deploy/kustomize/base/ironlb.yaml'));
  writeFileSync(join(root, 'deploy/helm/ironlb/templates/rbac.yaml'), chartRbac(manifest));
  console.error('synced deploy/kustomize/base/ironlb.yaml and deploy/helm/ironlb/templates/rbac.yaml');
}
