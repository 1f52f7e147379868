import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';

/** Name of the Secret holding the memberlist key, and its data key (as MetalLB). */
export const MEMBERLIST_SECRET = 'memberlist';
export const MEMBERLIST_SECRET_KEY = 'secretkey';

/**
 * Creates the memberlist Secret with a random key if it does not exist; never replaces one (all
 * speakers must keep agreeing on the key). Returns true if it created it.
 */
export async function ensureMemberlistSecret(kc: KubeConfig, namespace: string): Promise<boolean> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.readNamespacedSecret({ name: MEMBERLIST_SECRET, namespace });
    return false;
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw new Error(`reading Secret ${namespace}/${MEMBERLIST_SECRET}`, { cause: err });
  }
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: MEMBERLIST_SECRET, namespace, labels: { 'app.kubernetes.io/name': 'ironlb' } },
        type: 'Opaque',
        // 32 random bytes, base64: the speaker hashes the string to the AES-256 key.
        stringData: { [MEMBERLIST_SECRET_KEY]: randomBytes(32).toString('base64') },
      },
    });
    return true;
  } catch (err) {
    // Another controller instance (a Recreate rollout racing) created it first: fine.
    if ((err as { code?: number }).code === 409) return false;
    throw new Error(`creating Secret ${namespace}/${MEMBERLIST_SECRET}`, { cause: err });
  }
}
