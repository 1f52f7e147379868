/**
 * Lab helpers for the ironlb.io end-to-end tests (crd-*.test.ts), on top of harness.ts (used, not
 * changed): install the CRDs and their RBAC in the lab's API server and restart the processes so
 * they see them at once; give a node a second interface on the segment; read ServiceL2Status.
 */
import { execFileSync } from 'node:child_process';
import type { KubernetesObject } from '@kubernetes/client-node';
import { type AnyObject, apply, getObject, installCrds } from '../integration/crd-helpers.js';
import { LAB_PREFIX, type LabNode } from '../lab/lab.js';
import type { System } from './harness.js';

/**
 * Makes sure the CRDs are served (the harness applied deploy/ironlb.yaml, CRDs and RBAC included),
 * applies `objects`, then restarts the controller and every speaker so they see them at once.
 */
export async function useCrds(sys: System, objects: readonly AnyObject[] = []): Promise<void> {
  const kc = sys.lab.kubeConfig();
  await installCrds(kc);
  if (objects.length > 0) await apply(kc, objects);
  sys.controller.kill('SIGTERM');
  sys.startController();
  for (const node of sys.lab.nodes) {
    sys.speakers.get(node.name)?.kill('SIGTERM');
    sys.startSpeaker(node);
  }
}

/** Applies ironlb.io objects (or any objects) to the lab's API server. */
export async function applyIn(sys: System, objects: readonly AnyObject[]): Promise<void> {
  await apply(sys.lab.kubeConfig(), objects);
}

/** What a speaker recorded for a Service, if anything. */
export async function l2status(sys: System, namespace: string, name: string): Promise<{ node: string; since: string; interfaces: { name: string }[] } | undefined> {
  return (await getObject<{ status: { node: string; since: string; interfaces: { name: string }[] } }>(sys.lab.kubeConfig(), 'ServiceL2Status', namespace, name))?.status;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** A second interface of a node on the lab segment (removed with the lab's namespace, or by `remove`). */
export interface ExtraInterface {
  name: string;
  mac: string;
  remove(): void;
}

/**
 * Gives `node` another interface (`name`, default eth1) on the lab bridge: a veth whose host end
 * is named with the lab prefix, so lab teardown removes it even if a test dies. The node's
 * arp_ignore=1 (set for all interfaces) keeps the kernel from answering for VIPs on it too.
 */
export function addInterface(sys: System, node: LabNode, name = 'eth1'): ExtraInterface {
  const index = sys.lab.nodes.indexOf(node) + 1;
  const host = `${LAB_PREFIX}${sys.lab.id}n${index}${name.slice(-2)}`.slice(0, 15);
  const tmp = `${host}p`.slice(0, 15);
  ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', tmp]);
  try {
    ip(['link', 'set', tmp, 'netns', node.netns]);
    ip(['netns', 'exec', node.netns, 'ip', 'link', 'set', tmp, 'name', name]);
    ip(['netns', 'exec', node.netns, 'ip', 'link', 'set', name, 'up']);
    ip(['link', 'set', host, 'master', sys.lab.bridge]);
    ip(['link', 'set', host, 'up']);
  } catch (err) {
    try {
      ip(['link', 'del', host]);
    } catch {
      /* already gone */
    }
    throw err;
  }
  const out = ip(['netns', 'exec', node.netns, 'ip', '-o', 'link', 'show', name]);
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(out)?.[1] ?? '';
  return {
    name,
    mac,
    remove(): void {
      try {
        ip(['link', 'del', host]);
      } catch {
        /* gone with the lab */
      }
    },
  };
}

/** An IPAddressPool for the lab's LB range. */
export function labPool(name: string, addresses: readonly string[]): KubernetesObject & { spec: unknown } {
  return { apiVersion: 'ironlb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: 'ironlb-system' }, spec: { addresses } };
}

/** An L2Advertisement. */
export function labAdvertisement(name: string, spec: Record<string, unknown>): KubernetesObject & { spec: unknown } {
  return { apiVersion: 'ironlb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace: 'ironlb-system' }, spec };
}
