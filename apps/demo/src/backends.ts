/**
 * The example's gRPC backends: one server per WorkloadEntry address and port, answering every call with
 * the WorkloadEntry's name, so a client shows which endpoint Skiff sent it to.
 */
import * as grpc from '@grpc/grpc-js';
import { loadConfigInputs } from '@skiff/config-files';

/** The one method every backend serves; the demo client calls it. */
export const WHO_PATH = '/skiff.demo.Backend/Who';
/** The method's messages are plain UTF-8 text (the backend's name), with no protobuf schema. */
export const encode = (text: string): Buffer => Buffer.from(text);
export const decode = (bytes: Buffer): string => bytes.toString();

export interface Backend {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly server: grpc.Server;
}

/** A gRPC server on `host:port` (port 0: a free one) answering with `name`. */
export async function startBackend(name: string, host = '127.0.0.1', port = 0): Promise<Backend> {
  const server = new grpc.Server();
  server.addService(
    { Who: { path: WHO_PATH, requestStream: false, responseStream: false, requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode } },
    { Who: (_call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => callback(null, name) },
  );
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  return { name, host, port: bound, server };
}

export function stopBackends(backends: readonly Backend[]): void {
  for (const backend of backends) backend.server.forceShutdown();
}

/** A backend to start: where a WorkloadEntry says its workload listens. */
export interface BackendPlan {
  /** `namespace/name` of the WorkloadEntry. */
  readonly workloadEntry: string;
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/**
 * Reads the WorkloadEntries in `paths` (files or directories, as skiffctl's `-f`) and plans one backend
 * per address and port. Invalid objects and unreadable inputs are errors naming the object or file.
 */
export async function planBackends(paths: readonly string[]): Promise<{ plans: BackendPlan[]; errors: string[] }> {
  const load = await loadConfigInputs(paths);
  const errors = [
    ...load.inputErrors.map((error) => `${error.file}: ${error.message}`),
    ...load.rejected.filter((object) => object.kind === 'WorkloadEntry').flatMap((object) => object.errors.map((error) => `${error.object}: ${error.field}: ${error.reason}`)),
  ];
  const plans: BackendPlan[] = [];
  for (const { endpoint } of load.workloadEntries) {
    const workloadEntry = `${endpoint.source.namespace}/${endpoint.source.name}`;
    for (const port of new Set(Object.values(endpoint.ports))) plans.push({ workloadEntry, name: endpoint.source.name, host: endpoint.address, port });
  }
  if (plans.length === 0 && errors.length === 0) errors.push(`no WorkloadEntry with an address and ports in ${paths.join(', ')}`);
  return { plans, errors };
}

/** Starts every planned backend, or none: a port in use or an address not on this machine names the WorkloadEntry. */
export async function startPlannedBackends(plans: readonly BackendPlan[]): Promise<Backend[]> {
  // The error below says what failed; grpc-js would also log its own line for it.
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const started: Backend[] = [];
  for (const plan of plans) {
    try {
      started.push(await startBackend(plan.name, plan.host, plan.port));
    } catch (error) {
      stopBackends(started);
      const message = error instanceof Error ? error.message : String(error);
      // grpc-js wraps the listen error ("No address added ... errors: [listen EADDRINUSE: ...]").
      const reason = /EADDRINUSE/.test(message) ? 'the port is in use' : /EADDRNOTAVAIL/.test(message) ? 'the address is not on this machine' : message;
      throw new Error(`WorkloadEntry ${plan.workloadEntry}: cannot listen on ${plan.host}:${plan.port}: ${reason}`, { cause: error });
    }
  }
  return started;
}
