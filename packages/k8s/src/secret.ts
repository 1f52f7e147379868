import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { apiClients } from './clients.js';

/** Name of the Secret holding the memberlist key, and its data key (as MetalLB). */
export const MEMBERLIST_SECRET = 'memberlist';
export const MEMBERLIST_SECRET_KEY = 'secretkey';

/**
 * Creates the memberlist Secret with a new random key. Never replaces one (speakers must keep
 * agreeing on the key; an operator may rotate it on purpose): an existing Secret is left alone
 * and `undefined` returned. Other failures throw (the caller retries).
 */
export async function createMemberlistSecret(kc: KubeConfig, namespace: string): Promise<V1Secret | undefined> {
  const { core } = apiClients(kc);
  try {
    return await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: MEMBERLIST_SECRET, namespace, labels: { 'app.kubernetes.io/name': 'ironlb' } },
        type: 'Opaque',
        // 32 random bytes, base64: the speaker hashes the string to the AES-256 key.
        stringData: { [MEMBERLIST_SECRET_KEY]: randomBytes(32).toString('base64') },
      },
    });
  } catch (err) {
    // Someone (another controller during a rollout, an operator) created it first: keep theirs.
    if ((err as { code?: number }).code === 409) return undefined;
    throw new Error(`creating Secret ${namespace}/${MEMBERLIST_SECRET}`, { cause: err });
  }
}

/**
 * Creates the memberlist Secret with a random key if it does not exist; never replaces one.
 * Returns true if it created it. (The controller now keeps the Secret with an informer and
 * re-creates it when deleted; this one-shot form stays for tools and tests.)
 */
export async function ensureMemberlistSecret(kc: KubeConfig, namespace: string): Promise<boolean> {
  const { core } = apiClients(kc);
  try {
    await core.readNamespacedSecret({ name: MEMBERLIST_SECRET, namespace });
    return false;
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw new Error(`reading Secret ${namespace}/${MEMBERLIST_SECRET}`, { cause: err });
  }
  return (await createMemberlistSecret(kc, namespace)) !== undefined;
}
