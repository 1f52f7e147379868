/**
 * A real Kubernetes control plane for tests: etcd + kube-apiserver built from Go modules
 * (see build.sh), started on free ports with a generated CA, serving certificate, service-account
 * signing key and a bearer-token admin identity; RBAC authorization on.
 *
 * No kubelet, scheduler or controller-manager runs: tests create Nodes, EndpointSlices and
 * namespaces themselves (see README "Test control plane"). test/cluster adds them, and starts the
 * API server with the options for a real cluster (ServiceAccount admission, an advertise address
 * Pods reach through the `kubernetes` Service, node identities, a client certificate for kubelets).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));

/** Service ClusterIP ranges: sized for 10,000+ Services. ClusterIPs are API bookkeeping only here
 * (no kube-proxy, nothing routes them), so they never appear on any interface or wire. The v4 range
 * is the RFC 2544 benchmarking block rather than a private range, and v6 is documentation space. */
export const SERVICE_CIDRS = '198.18.0.0/16,2001:db8:96::/108';
/** NodePort range: 20,000 ports, so 10,000 two-port LoadBalancer Services still fit. */
export const NODE_PORT_RANGE = '20000-39999';

/** Addresses the serving certificate covers besides loopback: the host side of every possible lab
 * block (see test/lab/addressing.ts), so a lab started later can reach this API server. */
export const LAB_HOST_ADDRESSES: readonly string[] = Array.from({ length: 7 }, (_, i) => `198.51.100.${16 * (i + 1) + 1}`);

/** One line of the API server's static token file: a bearer token and the identity it stands for. */
export interface TokenIdentity {
  token: string;
  user: string;
  groups?: readonly string[];
}

/** Options for startControlPlane. */
export interface ControlPlaneOptions {
  /** Keep the processes running after this Node process exits (for the CLI `up`). */
  detached?: boolean;
  /** Where the state (certs, etcd data, logs) lives; default a fresh temp dir on tmpfs. */
  dir?: string;
  /** Extra kube-apiserver flags (e.g. --watch-cache=false so watches hit etcd directly). */
  apiServerArgs?: readonly string[];
  /** Progress messages (stderr by default when detached). */
  log?: (msg: string) => void;
  /** Keep the ServiceAccount admission plugin on (default off: without a controller-manager no
   * `default` ServiceAccount exists, so every Pod create would be refused). A real cluster needs it
   * on, or Pods get no token. */
  serviceAccountAdmission?: boolean;
  /** The address Pods reach the API server at through the `kubernetes` Service (an address of this
   * host on a lab bridge). Default: loopback, with the endpoint reconciler off. */
  advertiseAddress?: string;
  /** More identities in the token file besides the admin (e.g. `system:node:NAME` for kubelets). */
  extraTokens?: readonly TokenIdentity[];
  /** Authorization modes (default "RBAC"; a cluster with kubelets uses "Node,RBAC"). */
  authorizationMode?: string;
  /** Admission plugins to enable besides the defaults (e.g. NodeRestriction). */
  enableAdmissionPlugins?: readonly string[];
  /** Make a client certificate for talking to kubelets (`kubectl logs`, exec, metrics) and
   * reach them by InternalIP. */
  kubeletClient?: boolean;
}

/** Files in a control plane's state dir that other cluster components need. */
export interface ControlPlaneFiles {
  /** The CA that signed the serving certificate and any client certificate. */
  caCert: string;
  caKey: string;
  /** The ServiceAccount token signing key (kube-controller-manager signs legacy tokens with it). */
  saKey: string;
}

/** A running control plane. */
export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly port: number;
  readonly caPem: string;
  readonly token: string;
  readonly dir: string;
  readonly files: ControlPlaneFiles;
  readonly etcdPid: number;
  /** etcd's client URL (tests use it to compact history and force 410 Gone). */
  readonly etcdUrl: string;
  apiserverPid(): number;
  /** A kubeconfig (YAML) for the admin identity; `host` defaults to 127.0.0.1. */
  kubeconfigYaml(host?: string): string;
  /** A client-node KubeConfig for the admin identity. */
  kubeConfig(host?: string): KubeConfig;
  /** Stops kube-apiserver only (etcd keeps the data) and starts it again on the same port. */
  restartApiServer(): Promise<void>;
  /** Stops both processes and deletes the state dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Builds (or finds in the cache) the binaries and returns their directory. */
export function controlPlaneBinDir(): string {
  const out = execFileSync('bash', [join(here, 'build.sh')], { stdio: ['ignore', 'pipe', 'inherit'] })
    .toString()
    .trim();
  const last = out.split('\n').pop() ?? '';
  if (!existsSync(join(last, 'kube-apiserver'))) throw new Error(`control plane build did not produce binaries (got "${last}")`);
  return last;
}

/** A TCP port free at the moment of asking (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throw-away CA and a serving certificate for loopback + every lab host address. */
function makeCerts(dir: string, kubeletClient: boolean): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=ironlb-test-ca', '-days', '7', '-out', 'ca.crt'], dir);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'apiserver.key'], dir);
  openssl(['req', '-new', '-key', 'apiserver.key', '-subj', '/CN=kube-apiserver', '-out', 'apiserver.csr'], dir);
  const sans = ['DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'IP:127.0.0.1', 'IP:::1', 'IP:198.18.0.1'];
  for (const a of LAB_HOST_ADDRESSES) sans.push(`IP:${a}`);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '7', '-extfile', 'san.ext', '-out', 'apiserver.crt'], dir);
  if (kubeletClient) {
    // The API server's identity towards kubelets (they authenticate it by the cluster CA).
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'kubelet-client.key'], dir);
    openssl(['req', '-new', '-key', 'kubelet-client.key', '-subj', '/O=system:masters/CN=kube-apiserver-kubelet-client', '-out', 'kubelet-client.csr'], dir);
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    openssl(['x509', '-req', '-in', 'kubelet-client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '7', '-extfile', 'client.ext', '-out', 'kubelet-client.crt'], dir);
  }
  // The service-account token signing key pair (TokenRequest works without a controller-manager).
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'sec1', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
}

async function httpsGet(url: string, caPem: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The last lines of a log file, so a start failure explains itself after the dir is removed. */
function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitFor(what: string, deadlineMs: number, proc: ChildProcess, logFile: string, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}) before it was ready; its log ends:\n${logTail(logFile)}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`${what} not ready after ${deadlineMs} ms; its log ends:\n${logTail(logFile)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopProcess(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    proc.kill('SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Live children of every plane in this process, killed synchronously if the process exits early. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess, detached: boolean): void {
  if (detached) return;
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
  }
}

/** Starts etcd and kube-apiserver; resolves once /readyz is ok and namespace `default` exists. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const bin = controlPlaneBinDir();
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = opts.dir ?? mkdtempSync(join(base, 'ironlb-cp-'));
  mkdirSync(dir, { recursive: true });
  const detached = opts.detached ?? false;
  const children: ChildProcess[] = [];
  const cleanupOnFailure = async (): Promise<void> => {
    for (const c of children) await stopProcess(c, 2000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    makeCerts(dir, opts.kubeletClient === true);
    const token = randomBytes(24).toString('hex');
    const tokenLines = [`${token},ironlb-admin,ironlb-admin-uid,"system:masters"`];
    for (const t of opts.extraTokens ?? []) tokenLines.push(`${t.token},${t.user},${t.user}-uid,"${(t.groups ?? []).join(',')}"`);
    writeFileSync(join(dir, 'tokens.csv'), `${tokenLines.join('\n')}\n`, { mode: 0o600 });
    const caPem = execFileSync('cat', [join(dir, 'ca.crt')]).toString();

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcdLog = join(dir, 'etcd.log');
    const spawnLogged = (file: string, args: string[], logPath: string): ChildProcess => {
      const fd = openSync(logPath, 'a');
      const child = spawn(join(bin, file), args, { stdio: ['ignore', fd, fd], detached });
      closeSync(fd);
      if (detached) child.unref();
      track(child, detached);
      children.push(child);
      return child;
    };
    log(`starting etcd on ${etcdUrl}`);
    const etcd = spawnLogged(
      'etcd',
      [
        '--name=ironlb',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=ironlb=http://127.0.0.1:${peerPort}`,
        // Test data is disposable: skipping fsync makes etcd writes (and so every API write) fast.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      etcdLog,
    );
    await waitFor('etcd', 30_000, etcd, etcdLog, async () => {
      const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok;
    });

    const apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${apiPort}`,
      // 0.0.0.0 so speakers inside lab network namespaces reach it through the lab bridge address;
      // only loopback and lab addresses ever talk to it.
      '--bind-address=0.0.0.0',
      // With no default route (our sandboxes) the API server cannot derive an advertise address
      // and refuses to start; loopback is rejected by Endpoints validation, hence no reconciler.
      ...(opts.advertiseAddress !== undefined ? [`--advertise-address=${opts.advertiseAddress}`] : ['--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none']),
      `--cert-dir=${dir}`,
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      `--authorization-mode=${opts.authorizationMode ?? 'RBAC'}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDRS}`,
      `--service-node-port-range=${NODE_PORT_RANGE}`,
      '--allow-privileged=true',
      // No controller-manager means no `default` ServiceAccount: the admission plugin would refuse Pods.
      ...(opts.serviceAccountAdmission === true ? [] : ['--disable-admission-plugins=ServiceAccount']),
      ...(opts.enableAdmissionPlugins !== undefined && opts.enableAdmissionPlugins.length > 0 ? [`--enable-admission-plugins=${opts.enableAdmissionPlugins.join(',')}`] : []),
      // `kubectl logs` would otherwise dial the node by name, which nothing resolves here.
      ...(opts.kubeletClient === true
        ? [`--kubelet-client-certificate=${join(dir, 'kubelet-client.crt')}`, `--kubelet-client-key=${join(dir, 'kubelet-client.key')}`, '--kubelet-preferred-address-types=InternalIP']
        : []),
      '--profiling=false',
      '--v=1',
      ...(opts.apiServerArgs ?? []),
    ];
    const apiLog = join(dir, 'kube-apiserver.log');
    let apiserver = spawnLogged('kube-apiserver', apiArgs, apiLog);
    const server = `https://127.0.0.1:${apiPort}`;
    const waitApi = async (proc: ChildProcess): Promise<void> => {
      await waitFor('kube-apiserver', 90_000, proc, apiLog, async () => {
        const r = await httpsGet(`${server}/readyz`, caPem, token);
        if (r.status !== 200) return false;
        const ns = await httpsGet(`${server}/api/v1/namespaces/default`, caPem, token);
        return ns.status === 200;
      });
    };
    log(`starting kube-apiserver on ${server}`);
    await waitApi(apiserver);
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ etcdPid: etcd.pid, apiserverPid: apiserver.pid, server, dir }));

    let stopped = false;
    const yamlFor = (host = '127.0.0.1'): string =>
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'ironlb-test', cluster: { server: `https://${host.includes(':') ? `[${host}]` : host}:${apiPort}`, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
        users: [{ name: 'ironlb-admin', user: { token } }],
        contexts: [{ name: 'ironlb-test', context: { cluster: 'ironlb-test', user: 'ironlb-admin' } }],
        'current-context': 'ironlb-test',
      });
    return {
      server,
      port: apiPort,
      caPem,
      token,
      dir,
      files: { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), saKey: join(dir, 'sa.key') },
      etcdPid: etcd.pid ?? -1,
      etcdUrl,
      apiserverPid: () => apiserver.pid ?? -1,
      kubeconfigYaml: yamlFor,
      kubeConfig(host?: string): KubeConfig {
        const kc = new KubeConfig();
        kc.loadFromString(yamlFor(host));
        return kc;
      },
      async restartApiServer(): Promise<void> {
        // kube-apiserver drains open watches for ~10 s on SIGTERM; 3 s is enough to show a restart.
        await stopProcess(apiserver, 3000);
        apiserver = spawnLogged('kube-apiserver', apiArgs, apiLog);
        await waitApi(apiserver);
      },
      async stop(): Promise<void> {
        if (stopped) return;
        stopped = true;
        await stopProcess(apiserver, 5000);
        await stopProcess(etcd, 5000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cleanupOnFailure();
    throw new Error('control plane failed to start', { cause: err });
  }
}
