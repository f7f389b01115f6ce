{{/*
Names, labels and the pod pieces every Skiff component shares. Each template file renders one kind
for one component and takes everything common from here.
*/}}

{{/* The chart name, shortened to the 63 characters a label value allows. */}}
{{- define "skiff.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name. A release named after the chart ("skiff") gives "skiff", so the ADS
Service keeps the name proxies are configured with; any other release name is prefixed to it.
*/}}
{{- define "skiff.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one component's objects: call with (dict "root" $ "component" "watcher"). */}}
{{- define "skiff.componentName" -}}
{{- printf "%s-%s" (include "skiff.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ADS Service's name, the address proxies are given. */}}
{{- define "skiff.serviceName" -}}
{{- include "skiff.fullname" . }}
{{- end }}

{{/* Labels on every object: (dict "root" $ "component" "watcher"). */}}
{{- define "skiff.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "skiff.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: skiff
{{- end }}

{{/* Labels that select one component's pods; they never change across upgrades. */}}
{{- define "skiff.selectorLabels" -}}
app.kubernetes.io/name: {{ include "skiff.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The Skiff image, tagged with the chart's appVersion unless image.tag is set. */}}
{{- define "skiff.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The Redis URL every service is given. Exactly one source must be chosen: the bundled Redis, or an
external URL whose scheme agrees with redis.external.tls.enabled.
*/}}
{{- define "skiff.redisUrl" -}}
{{- $external := .Values.redis.external }}
{{- if .Values.redis.bundled.enabled }}
{{- if $external.url }}
{{- fail "redis.external.url and redis.bundled.enabled are both set: choose the external Redis or the bundled one" }}
{{- end }}
{{- printf "redis://%s.%s.svc:6379" (include "skiff.componentName" (dict "root" . "component" "redis")) .Release.Namespace }}
{{- else }}
{{- $url := required "redis.external.url is required (redis:// or rediss:// address of your Redis) unless redis.bundled.enabled is true" $external.url }}
{{- if and $external.tls.enabled (not (hasPrefix "rediss://" $url)) }}
{{- fail (printf "redis.external.tls.enabled is true but redis.external.url %q does not start with rediss://" $url) }}
{{- end }}
{{- if and (not $external.tls.enabled) (hasPrefix "rediss://" $url) }}
{{- fail (printf "redis.external.url %q uses TLS (rediss://): set redis.external.tls.enabled to true" $url) }}
{{- end }}
{{- $url }}
{{- end }}
{{- end }}

{{/* Whether the external Redis's CA bundle is mounted. */}}
{{- define "skiff.redisCaMounted" -}}
{{- if and (not .Values.redis.bundled.enabled) .Values.redis.external.tls.enabled .Values.redis.external.tls.caSecret }}true{{ end }}
{{- end }}

{{/*
NODE_OPTIONS giving V8 a heap limit of heapLimitPercent of a container's memory limit, which Node
would otherwise cap at about half of it: call with (dict "root" $ "component" "gateway" "resources"
$values.resources). Nothing without a memory limit or with heapLimitPercent 0. The limit is read as a
Kubernetes quantity: a number with an optional suffix (m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei).
*/}}
{{- define "skiff.heapLimitEnv" -}}
{{- $percent := int .root.Values.heapLimitPercent -}}
{{- $memory := "" -}}
{{- with .resources }}{{ with .limits }}{{ with .memory }}{{ $memory = . }}{{ end }}{{ end }}{{ end -}}
{{- if and (gt $percent 0) $memory -}}
{{- $bytes := 0.0 -}}
{{- if kindIs "string" $memory -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $memory -}}
{{- $suffix := trimPrefix $number $memory -}}
{{- $bytesPer := dict "" 1.0 "m" 0.001 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "E" 1000000000000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- if or (not $number) (not (hasKey $bytesPer $suffix)) -}}
{{- fail (printf "%s.resources.limits.memory: %q is not a memory quantity (a number with one of the suffixes m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi or Ei)" .component $memory) -}}
{{- end -}}
{{- $bytes = mulf (float64 $number) (get $bytesPer $suffix) -}}
{{- else -}}
{{- /* A plain number is bytes (a values file's 1073741824 arrives as a float). */ -}}
{{- $bytes = float64 $memory -}}
{{- end -}}
{{- $heapMiB := int (floor (divf (mulf $bytes $percent) (mulf 1048576.0 100.0))) -}}
{{- if lt $heapMiB 64 -}}
{{- fail (printf "%s.resources.limits.memory: %v leaves V8 a heap of %d MiB at heapLimitPercent %d; a Skiff service needs at least 64 MiB" .component $memory $heapMiB $percent) -}}
{{- end -}}
# V8's heap limit: heapLimitPercent of the container's memory limit.
- name: NODE_OPTIONS
  value: {{ printf "--max-old-space-size=%d" $heapMiB | quote }}
{{- end -}}
{{- end }}

{{/* Environment every Skiff container gets: log level, Redis password and CA, pod identity. */}}
{{- define "skiff.commonEnv" -}}
- name: SKIFF_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- if and (not .Values.redis.bundled.enabled) .Values.redis.external.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.passwordKey }}
{{- end }}
{{- with .Values.redis.external.cluster }}
{{- if $.Values.redis.bundled.enabled }}
{{- fail "redis.external.cluster and redis.bundled.enabled are both set: the bundled Redis is not a cluster" }}
{{- end }}
# Redis Cluster seed nodes: the services connect with a cluster client (docs/redis-cluster.md).
- name: SKIFF_REDIS_CLUSTER
  value: {{ join "," . | quote }}
{{- end }}
{{- if ne (int .Values.redis.shards) 1 }}
# The store's shard count (docs/redis-cluster.md); every service must be given the same.
- name: SKIFF_REDIS_SHARDS
  value: {{ .Values.redis.shards | quote }}
{{- end }}
{{- if include "skiff.redisCaMounted" . }}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/skiff/redis-ca/{{ .Values.redis.external.tls.caKey }}
{{- end }}
# Who may read /debug/* on the monitoring port: loopback callers (kubectl port-forward) and, with a
# token Secret, callers that send one of its tokens. /metrics and the probes are always open.
- name: SKIFF_DEBUG_ON_HTTP
  value: {{ .Values.debug.enabled | quote }}
- name: SKIFF_DEBUG_AUTH
  value: {{ .Values.debug.auth | quote }}
{{- if .Values.debug.tokenSecret }}
- name: SKIFF_DEBUG_TOKEN_FILE
  value: /etc/skiff/debug-token/{{ .Values.debug.tokenKey }}
{{- end }}
{{- end }}

{{/*
Writable scratch space (/tmp) on an otherwise read-only root filesystem, the Redis CA bundle when
one is configured, and the debug token Secret when one is given. Pair with skiff.commonVolumes.
*/}}
{{- define "skiff.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "skiff.redisCaMounted" . }}
- name: redis-ca
  mountPath: /etc/skiff/redis-ca
  readOnly: true
{{- end }}
{{- if .Values.debug.tokenSecret }}
- name: debug-token
  mountPath: /etc/skiff/debug-token
  readOnly: true
{{- end }}
{{- end }}

{{- define "skiff.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if include "skiff.redisCaMounted" . }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.external.tls.caSecret }}
    items:
      - key: {{ .Values.redis.external.tls.caKey }}
        path: {{ .Values.redis.external.tls.caKey }}
{{- end }}
{{- if .Values.debug.tokenSecret }}
# Mounted as a directory (no subPath), so a rotated token reaches the pod without a restart.
- name: debug-token
  secret:
    secretName: {{ .Values.debug.tokenSecret }}
    items:
      - key: {{ .Values.debug.tokenKey }}
        path: {{ .Values.debug.tokenKey }}
{{- end }}
{{- end }}

{{/*
Pod-level hardening: never root, the runtime's default seccomp filter. 65532 is the image's user; the
group lets mounted Secrets be read without making them world-readable.
*/}}
{{- define "skiff.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container-level hardening, the Kubernetes "restricted" Pod Security Standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted) plus a read-only
root filesystem: nothing in a Skiff container writes outside /tmp.
*/}}
{{- define "skiff.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Probes on the monitoring port. Startup and readiness ask /readyz, liveness asks /healthz, as Kubernetes
recommends keeping them apart (https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/):
a pod that is alive but not ready (still loading from Redis) leaves the Service without being
restarted. The startup probe gives a slow first load up to two minutes before liveness applies.
*/}}
{{- define "skiff.probes" -}}
startupProbe:
  httpGet:
    path: /readyz
    port: http-monitoring
  periodSeconds: 2
  failureThreshold: 60
  timeoutSeconds: 2
readinessProbe:
  httpGet:
    path: /readyz
    port: http-monitoring
  periodSeconds: 5
  failureThreshold: 3
  timeoutSeconds: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: http-monitoring
  periodSeconds: 10
  failureThreshold: 3
  timeoutSeconds: 2
{{- end }}

{{/* Pod annotations that let an annotation-driven Prometheus scrape the monitoring port. */}}
{{- define "skiff.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: "15014"
prometheus.io/path: /metrics
{{- end }}

{{/* Scheduling knobs of one component: call with its values block. */}}
{{- define "skiff.scheduling" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Replicas that stay up no matter what the autoscaler does: minReplicas with an HPA, replicas without.
Call with a component's values block.
*/}}
{{- define "skiff.guaranteedReplicas" -}}
{{- if .autoscaling.enabled }}{{ .autoscaling.minReplicas | int }}{{ else }}{{ .replicas | int }}{{ end }}
{{- end }}

{{/*
A HorizontalPodAutoscaler (autoscaling/v2) for one component's Deployment, on CPU and optionally
memory. Call with the component, its values block and where that block sits in the values:
(dict "root" $ "component" "ads-gateway" "valuesKey" "gateway" "values" .Values.gateway).
*/}}
{{- define "skiff.horizontalPodAutoscaler" -}}
{{- $autoscaling := .values.autoscaling }}
{{- $valuesPath := printf "%s.autoscaling" .valuesKey }}
{{- $minReplicas := required (printf "%s.minReplicas is required when autoscaling is enabled" $valuesPath) $autoscaling.minReplicas | int }}
{{- $maxReplicas := required (printf "%s.maxReplicas is required when autoscaling is enabled" $valuesPath) $autoscaling.maxReplicas | int }}
{{- if gt $minReplicas $maxReplicas }}
{{- fail (printf "%s.minReplicas (%d) is greater than maxReplicas (%d)" $valuesPath $minReplicas $maxReplicas) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "skiff.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "skiff.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "skiff.componentName" . }}
  minReplicas: {{ $minReplicas }}
  maxReplicas: {{ $maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $autoscaling.targetCPUUtilizationPercentage }}
    {{- if $autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $autoscaling.targetMemoryUtilizationPercentage }}
    {{- end }}
  {{- with $autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
Name of the watcher's ClusterRole and its binding. Cluster-scoped names carry the namespace so two
releases of the same name in different namespaces do not collide.
*/}}
{{- define "skiff.watcherClusterRoleName" -}}
{{- printf "%s-%s" (include "skiff.componentName" (dict "root" . "component" "watcher")) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Lease the watchers elect their leader with; the Role grants access to this one name. */}}
{{- define "skiff.watcherLeaseName" -}}
{{- include "skiff.componentName" (dict "root" . "component" "watcher") }}
{{- end }}
{{/* The namespace whose identities see every proxy's debug information: debug.systemNamespace, else the release's. */}}
{{- define "skiff.systemNamespace" -}}
{{- .Values.debug.systemNamespace | default .Release.Namespace -}}
{{- end }}

{{/*
The ConfigMap holding the translators' MeshConfig under its `mesh` key: the existing one named, else
the chart's own when meshConfig.values is set; empty when istiod's defaults apply.
*/}}
{{- define "skiff.meshConfigMap" -}}
{{- if .Values.meshConfig.existingConfigMap }}
{{- .Values.meshConfig.existingConfigMap }}
{{- else if .Values.meshConfig.values }}
{{- include "skiff.componentName" (dict "root" . "component" "mesh") }}
{{- end }}
{{- end }}
