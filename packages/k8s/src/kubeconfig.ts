import type http from 'node:http';
import https from 'node:https';
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
  return withKeepAlive(kc);
}

type AgentFactory = (cluster: unknown, options: https.AgentOptions) => https.Agent | http.Agent;
const patched = new WeakSet<KubeConfig>();

/**
 * Makes every API call of this KubeConfig share one keep-alive HTTPS agent. client-node 1.4.0
 * builds a new agent for each request (config.js `applySecurityAuthentication` → `createAgent`),
 * so each call paid a TCP + TLS handshake: ~100 ms per status write on a busy 2-core machine.
 * Credentials still go per request (tokens are re-read), only the TLS settings are shared, and
 * they are fixed for the life of a kubeconfig. Proxied clusters keep the library's behaviour.
 */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  if (patched.has(kc)) return kc;
  patched.add(kc);
  const target = kc as unknown as { createAgent: AgentFactory };
  const original = target.createAgent.bind(kc);
  let shared: https.Agent | undefined;
  target.createAgent = (cluster, options) => {
    if ((cluster as { proxyUrl?: string } | null)?.proxyUrl) return original(cluster, options);
    // Watches hold a socket each for their lifetime: leave room for them and for bursts of writes.
    shared ??= new https.Agent({ ...options, keepAlive: true, maxSockets: 128, maxFreeSockets: 32 });
    return shared;
  };
  return kc;
}
