/**
 * `kubectl ironlb migrate`, pure: MetalLB configuration (the legacy ConfigMap, its `config` text,
 * or metallb.io objects) in, the equivalent ironlb.io objects out. Nothing is guessed: what has no
 * layer2 equivalent (BGP peers, BGP advertisements, BFD profiles, communities, bgp pools) is
 * refused with a list of every such item, and the output is validated with the same rules the
 * controller and the webhook use (core), so what `migrate` prints applies cleanly.
 *
 * A legacy ConfigMap becomes one IPAddressPool per pool plus one L2Advertisement listing them
 * (what the ConfigMap meant: every pool, every node, every interface). metallb.io objects keep
 * their names, labels and specs; only the group, the namespace and server-set fields change.
 */
import { buildConfig, isConfigError, parseAdvertisementObject, parseConfig, parsePoolObject, quote } from '@ironlb/core';
import { parseAllDocuments, stringify } from 'yaml';

/** Where the migrated objects go. */
export interface MigrateOptions {
  /** Namespace of the output objects (default ironlb-system). */
  namespace?: string;
  /** Name of the L2Advertisement made for a legacy ConfigMap (default legacy-config). */
  advertisementName?: string;
}

/** Result: the objects (and YAML), or every reason it cannot be done. */
export type MigrateResult =
  { readonly ok: true; readonly objects: readonly Record<string, unknown>[]; readonly yaml: string; readonly notes: readonly string[] } | { readonly ok: false; readonly errors: readonly string[] };

const BGP_KINDS = new Set(['BGPPeer', 'BGPAdvertisement', 'BFDProfile', 'Community', 'ServiceBGPStatus']);
const SKIP_KINDS = new Set(['ServiceL2Status', 'ConfigurationState']);
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Metadata a server sets; never copied. */
const SERVER_META = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink', 'ownerReferences', 'finalizers', 'deletionTimestamp', 'deletionGracePeriodSeconds'];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The items of a document: a List's items, or the document itself. */
function flatten(doc: unknown): unknown[] {
  if (isObj(doc) && Array.isArray(doc['items']) && typeof doc['kind'] === 'string' && doc['kind'].endsWith('List')) return doc['items'] as unknown[];
  return [doc];
}

function cleanMeta(meta: unknown, namespace: string): Obj {
  const m = isObj(meta) ? { ...meta } : {};
  for (const k of SERVER_META) delete m[k];
  const ann = isObj(m['annotations']) ? { ...(m['annotations'] as Record<string, string>) } : undefined;
  if (ann !== undefined) {
    delete ann['kubectl.kubernetes.io/last-applied-configuration'];
    if (Object.keys(ann).length === 0) delete m['annotations'];
    else m['annotations'] = ann;
  }
  m['namespace'] = namespace;
  return m;
}

/**
 * Converts MetalLB configuration text (YAML, one or many documents) into ironlb.io objects.
 * Accepts ConfigMaps with a `config` key, bare legacy config text (a mapping with
 * `address-pools`), and metallb.io objects or Lists of them.
 */
export function migrate(text: string, o: MigrateOptions = {}): MigrateResult {
  const namespace = o.namespace ?? 'ironlb-system';
  const errors: string[] = [];
  const notes: string[] = [];
  const out: Obj[] = [];
  let docs: unknown[];
  try {
    const parsed = parseAllDocuments(text, { prettyErrors: false });
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const bad = list.flatMap((d) => d.errors.map((e) => e.message.split('\n')[0] ?? ''));
    if (bad.length > 0) return { ok: false, errors: bad.map((e) => `YAML: ${e}`) };
    docs = list
      .map((d) => d.toJS({ maxAliasCount: 100 }) as unknown)
      .filter((d) => d !== null && d !== undefined)
      .flatMap(flatten);
  } catch (err) {
    return { ok: false, errors: [`YAML: ${err instanceof Error ? err.message : String(err)}`] };
  }
  if (docs.length === 0) return { ok: false, errors: ['the input holds nothing to migrate (no ConfigMap, no metallb.io object)'] };

  docs.forEach((doc, i) => {
    const where = `document ${i + 1}`;
    if (!isObj(doc)) return errors.push(`${where}: not a mapping`);
    const kind = typeof doc['kind'] === 'string' ? doc['kind'] : undefined;
    const apiVersion = typeof doc['apiVersion'] === 'string' ? doc['apiVersion'] : '';
    const name = isObj(doc['metadata']) && typeof doc['metadata']['name'] === 'string' ? doc['metadata']['name'] : '';
    if (kind === undefined && ('address-pools' in doc || 'peers' in doc)) return legacy(yamlOf(doc), `${where} (legacy config)`, 'config');
    if (kind === 'ConfigMap') {
      const data = isObj(doc['data']) ? doc['data'] : {};
      const cfg = data['config'];
      if (typeof cfg !== 'string') return notes.push(`${where}: ConfigMap ${quote(name)} has no "config" key; skipped`);
      return legacy(cfg, `ConfigMap ${quote(name)}`, name);
    }
    if (!apiVersion.startsWith('metallb.io/')) return notes.push(`${where}: ${kind ?? 'object'} ${quote(name)} (${apiVersion || 'no apiVersion'}) is not MetalLB configuration; skipped`);
    if (kind !== undefined && BGP_KINDS.has(kind)) return errors.push(`${kind} ${quote(name)}: BGP has no layer2 equivalent in ironlb; remove it (ironlb announces with ARP/NDP only)`);
    if (kind !== undefined && SKIP_KINDS.has(kind)) return notes.push(`${kind} ${quote(name)}: written by MetalLB itself; skipped`);
    if (kind === 'IPAddressPool' || kind === 'L2Advertisement') return objectCopy(doc, kind);
    if (kind === 'AddressPool') {
      // metallb.io/v1alpha1 AddressPool (v0.12-v0.13): the legacy pool as an object.
      const spec = isObj(doc['spec']) ? doc['spec'] : {};
      if (spec['protocol'] === 'bgp' || spec['bgpAdvertisements'] !== undefined) return errors.push(`AddressPool ${quote(name)}: protocol bgp has no layer2 equivalent in ironlb`);
      const poolSpec: Obj = { addresses: spec['addresses'] };
      if (spec['autoAssign'] === false) poolSpec['autoAssign'] = false;
      if (spec['avoidBuggyIPs'] === true) poolSpec['avoidBuggyIPs'] = true;
      out.push({ apiVersion: 'ironlb.io/v1beta1', kind: 'IPAddressPool', metadata: cleanMeta(doc['metadata'], namespace), spec: poolSpec });
      out.push(advertisementFor(`${name}-l2`, [name]));
      return notes.push(`AddressPool ${quote(name)}: converted to an IPAddressPool and an L2Advertisement "${name}-l2"`);
    }
    return errors.push(`${kind ?? 'object'} ${quote(name)} (${apiVersion}): not a kind ironlb knows`);
  });

  function yamlOf(doc: Obj): string {
    return stringify(doc);
  }

  function advertisementFor(name: string, pools: string[]): Obj {
    return { apiVersion: 'ironlb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace }, spec: { ipAddressPools: pools } };
  }

  function legacy(cfgText: string, where: string, cmName: string): void {
    // BGP first, with every offending item named, before the parser's first-error view.
    const raw = parseAllDocuments(cfgText, { prettyErrors: false });
    const first = (Array.isArray(raw) ? raw[0] : raw)?.toJS({ maxAliasCount: 100 }) as unknown;
    if (isObj(first)) {
      for (const k of ['peers', 'bgp-communities', 'bfd-profiles']) {
        if (first[k] !== undefined && first[k] !== null) errors.push(`${where}: "${k}": BGP has no layer2 equivalent in ironlb; remove it`);
      }
      const pools = Array.isArray(first['address-pools']) ? (first['address-pools'] as unknown[]) : [];
      for (const p of pools) {
        if (!isObj(p)) continue;
        const n = typeof p['name'] === 'string' ? p['name'] : '?';
        if (p['protocol'] === 'bgp') errors.push(`${where}: pool ${quote(n)} has protocol bgp, which has no layer2 equivalent in ironlb`);
        if (p['bgp-advertisements'] !== undefined) errors.push(`${where}: pool ${quote(n)}: "bgp-advertisements" has no layer2 equivalent in ironlb`);
      }
      if (errors.length > 0) return;
    }
    const parsed = parseConfig(cfgText);
    if (isConfigError(parsed)) return void errors.push(...parsed.errors.map((e) => `${where}: ${e}`));
    const names: string[] = [];
    for (const p of parsed.pools) {
      if (p.name.length > 253 || !DNS_SUBDOMAIN_RE.test(p.name)) {
        errors.push(
          `${where}: pool ${quote(p.name)} is not a valid object name (lower case letters, digits, "-" and "."); rename it in the ConfigMap and in the address-pool annotations of its Services first`,
        );
        continue;
      }
      const spec: Obj = { addresses: p.addresses.map((r) => r.text) };
      if (!p.autoAssign) spec['autoAssign'] = false;
      if (p.avoidBuggyIPs) spec['avoidBuggyIPs'] = true;
      out.push({ apiVersion: 'ironlb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: p.name, namespace }, spec });
      names.push(p.name);
    }
    if (names.length > 0) {
      const adName = o.advertisementName ?? (cmName === 'config' ? 'legacy-config' : `legacy-${cmName}`.slice(0, 253));
      out.push(advertisementFor(adName, names));
      notes.push(`${where}: ${names.length} pool(s) and L2Advertisement ${quote(adName)} (every node, every interface, as the ConfigMap meant)`);
    }
  }

  /** A metallb.io v1beta1 object with the same fields and meaning (core judges the spec below). */
  function objectCopy(doc: Obj, kind: 'IPAddressPool' | 'L2Advertisement'): void {
    const spec = isObj(doc['spec']) ? { ...doc['spec'] } : {};
    out.push({ apiVersion: 'ironlb.io/v1beta1', kind, metadata: cleanMeta(doc['metadata'], namespace), spec });
  }

  // Validate what would be applied, with the controller's own rules.
  const seen = new Set<string>();
  for (const obj of out) {
    const meta = obj['metadata'] as Obj;
    const name = typeof meta['name'] === 'string' ? meta['name'] : '';
    const key = `${String(obj['kind'])}/${name}`;
    if (seen.has(key)) errors.push(`${key}: defined twice in the input`);
    seen.add(key);
    const labels = (isObj(meta['labels']) ? meta['labels'] : {}) as Record<string, string>;
    const r = obj['kind'] === 'IPAddressPool' ? parsePoolObject({ name, labels, spec: obj['spec'] }) : parseAdvertisementObject({ name, labels, spec: obj['spec'] });
    if (!r.ok) errors.push(...r.errors);
  }
  if (errors.length === 0) {
    const pools = out.filter((x) => x['kind'] === 'IPAddressPool');
    const built = buildConfig({ pools: pools.map((x) => ({ name: String((x['metadata'] as Obj)['name']), spec: x['spec'] })), advertisements: [] });
    for (const p of built.problems) errors.push(...p.errors);
  }
  if (errors.length > 0) return { ok: false, errors };
  if (out.length === 0) return { ok: false, errors: ['the input holds no address pool to migrate'] };
  const header =
    '# ironlb.io objects migrated from MetalLB by `kubectl ironlb migrate`.\n# Apply after deploy/ironlb.yaml (it installs the CRDs); Services keep their metallb.io annotations (ironlb reads them).\n';
  const yaml = header + out.map((x) => stringify(x)).join('---\n');
  return { ok: true, objects: out, yaml, notes };
}
