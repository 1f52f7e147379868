import { KubeConfig } from '@kubernetes/client-node';

/**
 * Loads the client configuration: an explicit kubeconfig path, else $KUBECONFIG, else the
 * in-cluster ServiceAccount (token + CA mounted into the Pod).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? process.env['KUBECONFIG'];
  try {
    if (file !== undefined && file !== '') kc.loadFromFile(file);
    else kc.loadFromCluster();
  } catch (err) {
    throw new Error(`cannot load Kubernetes client configuration from ${file ?? 'in-cluster service account'}`, { cause: err });
  }
  if (kc.getCurrentCluster() === null) throw new Error(`no current cluster in ${file ?? 'in-cluster configuration'}`);
  return kc;
}
