/**
 * kubectl-ironlb: the operator's view of ironlb (a kubectl plugin: `kubectl ironlb …` when on
 * PATH, `npx kubectl-ironlb …` in this repository).
 *
 *   kubectl ironlb status [-o table|json]
 *   kubectl ironlb explain svc/NAME [-n NAMESPACE] [-o table|json]
 *   kubectl ironlb migrate (-f FILE | --from-cluster [--metallb-namespace metallb-system]) [--to-namespace ironlb-system]
 *
 * Common flags: --kubeconfig PATH (default $KUBECONFIG, then ~/.kube/config), --context NAME,
 * --ironlb-namespace (default ironlb-system), --config-name (default config), --lb-class.
 * Exit codes: 0 done, 1 the command found a problem (migrate refused), 2 bad usage or no API.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { readCluster, readMetalLB } from './cluster.js';
import { migrate } from './migrate.js';
import { renderExplain, renderStatus } from './render.js';
import { explain, statusReport } from './report.js';

const USAGE = `kubectl ironlb: status, explain and migrate for ironlb

  kubectl ironlb status [-o table|json]
      pools with used/free addresses per family, every LoadBalancer Service with its IPs, pool,
      announcing node and time since it took over, and every node with its speaker's health
  kubectl ironlb explain svc/NAME [-n NAMESPACE] [-o table|json]
      why a Service has no IP, or why no node (or which node) announces it
  kubectl ironlb migrate -f FILE | --from-cluster [--metallb-namespace NS] [--to-namespace NS]
      prints the ironlb.io objects equivalent to a MetalLB ConfigMap or metallb.io objects

flags: --kubeconfig PATH  --context NAME  --ironlb-namespace NS (ironlb-system)
       --config-name NAME (config)  --lb-class CLASS
`;

function fail(message: string, code = 2): never {
  process.stderr.write(`kubectl-ironlb: ${message}\n`);
  process.exit(code);
}

function loadKubeconfig(path: string | undefined, context: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? process.env['KUBECONFIG'] ?? join(homedir(), '.kube', 'config');
  try {
    kc.loadFromFile(file.split(':')[0] ?? file);
  } catch (err) {
    fail(`cannot read kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (context !== undefined) kc.setCurrentContext(context);
  if (kc.getCurrentCluster() === null) fail(`no current cluster in ${file}`);
  return kc;
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  while (e instanceof Error && parts.length < 4) {
    parts.push(e.message.split('\n')[0] ?? e.message);
    e = e.cause;
  }
  return parts.join(': ');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      output: { type: 'string', short: 'o', default: 'table' },
      'ironlb-namespace': { type: 'string', default: 'ironlb-system' },
      'config-name': { type: 'string', default: 'config' },
      'lb-class': { type: 'string' },
      filename: { type: 'string', short: 'f' },
      'from-cluster': { type: 'boolean', default: false },
      'metallb-namespace': { type: 'string', default: 'metallb-system' },
      'metallb-config-name': { type: 'string', default: 'config' },
      'to-namespace': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, target] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const output = values.output;
  if (output !== 'table' && output !== 'json') fail(`-o must be table or json, not ${JSON.stringify(output)}`);
  const ns = values['ironlb-namespace'];
  const read = { namespace: ns, configMapName: values['config-name'], lbClass: values['lb-class'] === '' ? undefined : values['lb-class'] };

  if (command === 'migrate') {
    let text: string;
    if (values.filename !== undefined) {
      try {
        text = values.filename === '-' ? readFileSync(0, 'utf8') : readFileSync(values.filename, 'utf8');
      } catch (err) {
        fail(`cannot read ${values.filename}: ${errorText(err)}`);
      }
    } else if (values['from-cluster']) {
      const kc = loadKubeconfig(values.kubeconfig, values.context);
      const r = await readMetalLB(kc, values['metallb-namespace'], values['metallb-config-name']);
      for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
      text = r.text;
    } else fail('migrate needs -f FILE (or - for stdin) or --from-cluster');
    const r = migrate(text, { namespace: values['to-namespace'] ?? ns });
    if (!r.ok) {
      if (output === 'json') process.stdout.write(`${JSON.stringify({ ok: false, errors: r.errors }, null, 2)}\n`);
      process.stderr.write(`kubectl-ironlb: cannot migrate:\n${r.errors.map((e) => `  - ${e}`).join('\n')}\n`);
      process.exit(1);
    }
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    process.stdout.write(output === 'json' ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: r.objects }, null, 2)}\n` : r.yaml);
    return;
  }

  const kc = loadKubeconfig(values.kubeconfig, values.context);
  if (command === 'status') {
    const view = await readCluster(kc, read);
    const report = statusReport(view);
    process.stdout.write(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
    return;
  }
  if (command === 'explain') {
    if (target === undefined) fail('explain needs svc/NAME');
    const m = /^(?:svc|service|services)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(target);
    if (m === null) fail(`explain takes svc/NAME, not ${JSON.stringify(target)}`);
    const name = m[1] as string;
    const svcNs = values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
    const view = await readCluster(kc, { ...read, eventsOf: { namespace: svcNs, name } });
    const e = explain(view, svcNs, name);
    process.stdout.write(output === 'json' ? `${JSON.stringify(e, null, 2)}\n` : renderExplain(e));
    if (view.notes.length > 0 && output === 'table') process.stdout.write(view.notes.map((n) => `note: ${n}\n`).join(''));
    return;
  }
  fail(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
}

main().catch((err: unknown) => fail(errorText(err)));
