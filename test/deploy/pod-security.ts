import type { V1Container, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';

/**
 * The Pod Security Standard `restricted` (kubernetes.io/docs/concepts/security/pod-security-standards, the
 * checks of the `latest` version), applied to a pod spec the way the admission plugin does: each check looks
 * at the pod's securityContext and every container's (init and ephemeral included). Returns what admission
 * would refuse; empty when the pod is admitted.
 */

const RESTRICTED_VOLUMES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
/** The sysctls the baseline level allows. */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);

function containersOf(pod: V1PodSpec): V1Container[] {
  return [
    ...(pod.initContainers ?? []),
    ...pod.containers,
    ...((pod.ephemeralContainers ?? []) as V1Container[]),
  ];
}

function hostAndPrivilege(pod: V1PodSpec, containers: V1Container[]): string[] {
  const problems: string[] = [];
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push('host namespaces');
  if (pod.securityContext?.windowsOptions?.hostProcess) problems.push('hostProcess');
  for (const sysctl of pod.securityContext?.sysctls ?? []) {
    if (!SAFE_SYSCTLS.has(sysctl.name)) problems.push(`sysctl ${sysctl.name}`);
  }
  for (const c of containers) {
    if (c.securityContext?.privileged) problems.push(`${c.name}: privileged`);
    if (c.ports?.some((p) => p.hostPort)) problems.push(`${c.name}: hostPort`);
    if (c.securityContext?.procMount && c.securityContext.procMount !== 'Default') {
      problems.push(`${c.name}: procMount`);
    }
  }
  return problems;
}

function confinement(context: V1SecurityContext | undefined, who: string): string[] {
  const problems: string[] = [];
  const selinux = context?.seLinuxOptions;
  if (selinux && (!SELINUX_TYPES.has(selinux.type ?? '') || selinux.user || selinux.role)) {
    problems.push(`${who}: seLinuxOptions`);
  }
  if (context?.appArmorProfile?.type === 'Unconfined') problems.push(`${who}: AppArmor unconfined`);
  if (context?.runAsUser === 0) problems.push(`${who}: runAsUser 0`);
  return problems;
}

export function restrictedViolations(pod: V1PodSpec): string[] {
  const containers = containersOf(pod);
  const podContext = pod.securityContext;
  const problems = [
    ...hostAndPrivilege(pod, containers),
    ...confinement(podContext as V1SecurityContext, 'pod'),
  ];
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.has(type)) problems.push(`volume ${volume.name}: ${type}`);
  }
  const podSeccomp = podContext?.seccompProfile?.type;
  if (podSeccomp === 'Unconfined') problems.push('pod: seccomp Unconfined');
  for (const c of containers) {
    const context = c.securityContext;
    problems.push(...confinement(context, c.name));
    if (context?.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation`);
    const nonRoot = context?.runAsNonRoot ?? podContext?.runAsNonRoot;
    if (nonRoot !== true) problems.push(`${c.name}: runAsNonRoot not true`);
    const seccomp = context?.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${c.name}: seccomp ${seccomp}`);
    if (!context?.capabilities?.drop?.includes('ALL')) problems.push(`${c.name}: capabilities not dropped`);
    const added = (context?.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (added.length > 0) problems.push(`${c.name}: adds ${added.join(', ')}`);
  }
  return problems;
}
