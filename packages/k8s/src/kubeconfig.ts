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

/**
 * Kept for callers written against the old API: it used to replace a private method of the
 * KubeConfig (`createAgent`) to get keep-alive connections, which mutated the caller's object and
 * would silently stop working in client-node 2.x. Connection reuse now comes from building every
 * client through `apiClients(kc)` / `makeApiClient(kc, Api)` (public middleware API); this
 * returns `kc` untouched.
 * @deprecated Build clients with `apiClients(kc)` instead.
 */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  return kc;
}
