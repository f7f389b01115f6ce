/**
 * A mesh served by a real Kubernetes API server (etcd and kube-apiserver from tools/kube/build.sh, with
 * Istio's CRDs), for a Skiff that reads Kubernetes: the objects are created through the API, and a change
 * is a merge patch through the API, so its delay includes the API server's write and its watch event.
 */
import { connect, constants } from 'node:http2';
import { installIstioCrds, KubeControlPlane } from '@skiff/kube-testenv';

const { HTTP2_HEADER_AUTHORIZATION, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS } = constants;

/** Requests in flight while seeding: enough to keep etcd and the API server busy on both cores. */
const SEED_CONCURRENCY = 64;

/** The resources of the mesh's kinds (their CRDs' `spec.names.plural`). */
const PLURALS = { ServiceEntry: 'serviceentries', WorkloadEntry: 'workloadentries' };

/** The API path of an Istio networking object's collection, or of the object with `name`. */
function objectPath(object, name) {
  const [group, version] = object.apiVersion.split('/');
  const plural = PLURALS[object.kind];
  if (plural === undefined) throw new Error(`kube-mesh: no resource for kind ${object.kind}`);
  const collection = `/apis/${group}/${version}/namespaces/${object.metadata.namespace}/${plural}`;
  return name === undefined ? collection : `${collection}/${name}`;
}

/** One HTTP/2 connection to the API server as its admin; requests resolve with status and body. */
class ApiClient {
  constructor(plane) {
    this.server = plane.server;
    this.token = plane.adminToken;
    this.session = undefined;
  }

  /** The connection, opened again when the API server has closed it (it may, while Skiff cold starts). */
  connection() {
    if (this.session === undefined || this.session.closed || this.session.destroyed) {
      this.session = connect(this.server, { rejectUnauthorized: false });
      this.session.on('error', () => {});
    }
    return this.session;
  }

  request(method, path, body, contentType = 'application/json') {
    return new Promise((resolve, reject) => {
      const stream = this.connection().request({
        [HTTP2_HEADER_METHOD]: method,
        [HTTP2_HEADER_PATH]: path,
        [HTTP2_HEADER_AUTHORIZATION]: `Bearer ${this.token}`,
        [HTTP2_HEADER_CONTENT_TYPE]: contentType,
      });
      let status = 0;
      const chunks = [];
      stream.on('response', (headers) => (status = Number(headers[HTTP2_HEADER_STATUS])));
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      stream.on('error', reject);
      stream.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async requestOk(method, path, body, contentType) {
    const { status, body: reply } = await this.request(method, path, body, contentType);
    if (status < 200 || status >= 300) throw new Error(`${method} ${path}: HTTP ${status}: ${reply.slice(0, 500)}`);
    return reply;
  }

  close() {
    this.session?.close();
  }
}

/** Creates `objects` (in order, `SEED_CONCURRENCY` at a time); returns how long it took. */
async function createAll(client, objects) {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const object = objects[next++];
      await client.requestOk('POST', objectPath(object), object);
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
  return performance.now() - started;
}

/**
 * Starts a control plane holding `mesh` (its namespaces, ServiceEntries and WorkloadEntries). `patch`
 * moves a WorkloadEntry to the address of `object` (the updated object) with a JSON merge patch, as
 * `kubectl patch --type merge` would, and resolves once the API server has answered.
 */
export async function startKubeMesh(mesh) {
  const plane = await KubeControlPlane.start({ startTimeoutMs: 120_000 });
  const client = new ApiClient(plane);
  try {
    await installIstioCrds(plane);
    for (const namespace of mesh.namespaces) await client.requestOk('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    const seedMs = await createAll(client, mesh.objects);
    return {
      plane,
      kubeconfig: plane.adminKubeconfig,
      seedMs,
      patch: (object) => client.requestOk('PATCH', objectPath(object, object.metadata.name), { spec: { address: object.spec.address } }, 'application/merge-patch+json'),
      async stop() {
        client.close();
        await plane.stop();
      },
    };
  } catch (error) {
    client.close();
    await plane.stop();
    throw error;
  }
}
