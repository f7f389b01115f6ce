/**
 * The id a process goes by among its replicas: in the fleet view, Redis client names and
 * `control_plane.identifier`. Kubernetes gives each pod a unique `POD_NAME`; elsewhere two processes
 * on one host share the host name, so the process id is added (without it, two gateways on one host
 * overwrote each other's fleet report).
 */
import { hostname } from 'node:os';

export function defaultReplicaId(env: Readonly<Record<string, string | undefined>> = process.env, pid: number = process.pid, host: string = hostname()): string {
  const podName = env['POD_NAME'];
  return podName !== undefined && podName !== '' ? podName : `${host}-${pid}`;
}
