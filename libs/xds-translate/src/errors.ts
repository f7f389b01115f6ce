/**
 * Entry-level translation problems. Translation is best-effort (Envoy Gateway's translator,
 * `internal/xds/translator/translator.go` in envoyproxy/gateway): a problem with one host x port is collected here and that resource is left out or
 * trimmed, while everything else of the ServiceEntry is still built. Errors are data, never thrown;
 * only programmer errors throw.
 */

/** What went wrong; each code has one fixed meaning (see `TRANSLATE_ERROR_MESSAGES`). */
export type TranslateErrorCode =
  | 'DNS_CLUSTER_WITHOUT_ENDPOINTS'
  | 'ENDPOINT_WITHOUT_ADDRESS'
  | 'GRPC_UNSUPPORTED_ENDPOINT'
  | 'GRPC_DUPLICATE_ENDPOINT'
  | 'GRPC_UNSUPPORTED_LB_POLICY'
  | 'DESTINATION_RULE_FIELD_NOT_APPLIED'
  | 'VIRTUAL_SERVICE_FIELD_NOT_APPLIED';

/** The fixed message of each code; `TranslateError.detail` carries the specifics. */
export const TRANSLATE_ERROR_MESSAGES: Readonly<Record<TranslateErrorCode, string>> = {
  DNS_CLUSTER_WITHOUT_ENDPOINTS: 'DNS cluster has no endpoints; like istiod, the cluster is not generated',
  ENDPOINT_WITHOUT_ADDRESS: 'endpoint has no address (multi-network gateways are not supported); endpoint dropped',
  GRPC_UNSUPPORTED_ENDPOINT: 'proxyless gRPC clients accept only IP-literal endpoints with a port; endpoint dropped',
  GRPC_DUPLICATE_ENDPOINT: 'proxyless gRPC clients reject an address listed twice in one ClusterLoadAssignment; duplicate dropped',
  GRPC_UNSUPPORTED_LB_POLICY: 'proxyless gRPC clients reject this load balancer (they take ROUND_ROBIN and RING_HASH only); the cluster keeps ROUND_ROBIN',
  DESTINATION_RULE_FIELD_NOT_APPLIED: 'a DestinationRule setting istiod applies to this cluster is not built by Skiff; the cluster is built without it',
  VIRTUAL_SERVICE_FIELD_NOT_APPLIED: 'a VirtualService setting istiod builds into this route is not built by Skiff; the route is built without it',
};

export interface TranslateErrorInit {
  readonly code: TranslateErrorCode;
  /** `namespace/name` of the ServiceEntry. */
  readonly serviceEntry: string;
  /** The cluster (or would-be cluster) the problem belongs to. */
  readonly clusterName?: string;
  /** Specifics: which endpoint, how many endpoints, which resolution. */
  readonly detail?: string;
}

/** One entry-level problem. An `Error` (so it can be thrown or logged with a stack) that serializes as plain data. */
export class TranslateError extends Error {
  override readonly name = 'TranslateError';
  readonly code: TranslateErrorCode;
  readonly serviceEntry: string;
  readonly clusterName: string | undefined;
  readonly detail: string | undefined;

  constructor(init: TranslateErrorInit) {
    const where = init.clusterName === undefined ? init.serviceEntry : `${init.serviceEntry} ${init.clusterName}`;
    const detail = init.detail === undefined ? '' : ` (${init.detail})`;
    super(`${where}: ${TRANSLATE_ERROR_MESSAGES[init.code]}${detail}`);
    this.code = init.code;
    this.serviceEntry = init.serviceEntry;
    this.clusterName = init.clusterName;
    this.detail = init.detail;
  }

  /** Plain JSON (`code`, `serviceEntry`, `clusterName?`, `detail?`, `message`) for stores, debug pages and goldens. */
  toJSON(): Record<string, string> {
    const json: Record<string, string> = { code: this.code, serviceEntry: this.serviceEntry };
    if (this.clusterName !== undefined) json['clusterName'] = this.clusterName;
    if (this.detail !== undefined) json['detail'] = this.detail;
    json['message'] = this.message;
    return json;
  }
}
