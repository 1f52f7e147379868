/**
 * Configuration files of the test cluster's node components (pure: strings in, strings out).
 *
 * Addressing: a cluster lives in one lab block k (see test/lab/addressing.ts) and takes the Pod
 * range 198.19.16k.0/20 (RFC 2544 benchmarking space, next to the Service range 198.18.0.0/16), one
 * /24 per node, so clusters in different blocks never overlap.
 */
import { stringify } from 'yaml';

/** Pod addresses of the whole cluster in lab block `block`. */
export function clusterPodCidr(block: number): string {
  return `198.19.${16 * block}.0/20`;
}

/** Pod addresses of node `index` (1-based) in lab block `block`. */
export function nodePodCidr(block: number, index: number): string {
  if (index < 1 || index > 15) throw new Error(`node index ${index} out of range 1..15`);
  return `198.19.${16 * block + index}.0/24`;
}

/** Where one node keeps its state (all absolute paths). */
export interface NodePaths {
  /** On disk: containerd's root, kubelet's root dir, Pod logs, CNI state. */
  dir: string;
  /** On tmpfs, short (unix socket paths are limited to 108 bytes): sockets and runtime state. */
  run: string;
}

/** containerd's socket for a node. */
export function containerdSocket(p: NodePaths): string {
  return `${p.run}/containerd.sock`;
}

/**
 * containerd 1.6 (Debian) for one node: its own root, state and sockets; the CRI plugin with
 * runc under cgroupfs, the local pause image, CNI from Debian's plugins.
 */
export function containerdConfig(p: NodePaths, pauseImage: string): string {
  return `version = 2
root = "${p.dir}/containerd"
state = "${p.run}/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${containerdSocket(p)}"

[ttrpc]
  address = "${p.run}/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${p.dir}/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  # Root here lacks CAP_SYS_RESOURCE: without this, runc cannot lower oom_score_adj and every
  # sandbox fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${p.dir}/cni-net.d"
    max_conf_num = 1
`;
}

/** The CNI network of one node: a bridge with host-local addresses from the node's /24, no NAT
 * (routes between nodes and to the host are set by the harness, as a real network would carry them). */
export function cniConfig(p: NodePaths, networkName: string, podCidr: string): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: networkName,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          // A Pod reaching its own Service through kube-proxy comes back through the bridge.
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: podCidr }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: `${p.dir}/cni-ipam` },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/** What a node's kubelet needs to know. */
export interface KubeletParams {
  paths: NodePaths;
  nodeIp: string;
  /** v1 cgroup parent of every Pod on this node (must exist in every hierarchy). */
  cgroupRoot: string;
  clientCaFile: string;
  /** Lease duration: the node controller's grace period must be longer than one renewal (a quarter of this). */
  nodeLeaseDurationSeconds: number;
}

/** KubeletConfiguration for one lab node. */
export function kubeletConfig(k: KubeletParams): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: k.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    // The API server presents a client certificate from the cluster CA (kubectl logs/exec); every
    // other caller is checked with the API server (TokenReview/SubjectAccessReview).
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: k.clientCaFile } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${containerdSocket(k.paths)}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: k.cgroupRoot,
    // This machine runs cgroup v1, which 1.35+ refuses unless told.
    failCgroupV1: false,
    failSwapOn: false,
    // Two kubelets sharing /var/log/pods would delete each other's logs.
    podLogsDir: `${k.paths.dir}/pod-logs`,
    clusterDomain: 'cluster.local',
    nodeLeaseDurationSeconds: k.nodeLeaseDurationSeconds,
    // A busy shared CI disk must not make the kubelet evict our Pods or collect their images
    // (the images were imported, there is no registry to pull them back from).
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    maxPods: 40,
    protectKernelDefaults: false,
    shutdownGracePeriod: '0s',
    containerLogMaxSize: '5Mi',
    containerLogMaxFiles: 2,
  });
}

/** A kubeconfig with a bearer token. */
export function tokenKubeconfig(server: string, caPem: string, user: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'ironlb-cluster', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'ironlb-cluster', context: { cluster: 'ironlb-cluster', user } }],
    'current-context': 'ironlb-cluster',
  });
}

/** kube-proxy's flags for one node (iptables mode; conntrack sysctls are global, so left alone). */
export function kubeProxyArgs(kubeconfig: string, nodeName: string, clusterCidr: string, nodePrefix: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${nodeName}`,
    '--proxy-mode=iptables',
    `--cluster-cidr=${clusterCidr}`,
    // In a network namespace nf_conntrack_max and the timeouts are read-only: 0 = leave them.
    '--conntrack-max-per-core=0',
    '--conntrack-min=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    `--nodeport-addresses=${nodePrefix}`,
    '--metrics-bind-address=127.0.0.1:10249',
    '--healthz-bind-address=0.0.0.0:10256',
    '--iptables-min-sync-period=250ms',
    '--v=1',
  ];
}
