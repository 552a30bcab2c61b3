{{/*
Names, labels and the pieces every function's Knative Service shares.
*/}}

{{- define "orchestrator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped prefix of every object (63-char DNS label budget minus "-executor"). */}}
{{- define "orchestrator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "orchestrator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "root" $ "component" "router"). */}}
{{- define "orchestrator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orchestrator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "orchestrator.labels" -}}
helm.sh/chart: {{ include "orchestrator.chart" .root }}
{{ include "orchestrator.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: incident-orchestrator
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "orchestrator.image" -}}
{{- $img := .Values.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{- define "orchestrator.serviceName" -}}
{{- printf "%s-%s" (include "orchestrator.fullname" .root) .fn }}
{{- end }}

{{- define "orchestrator.brokerName" -}}
{{- printf "%s-incidents" (include "orchestrator.fullname" .) }}
{{- end }}

{{- define "orchestrator.secretName" -}}
{{- default (printf "%s-secrets" (include "orchestrator.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* Where the broker's receiver pods run (for the NetworkPolicy). */}}
{{- define "orchestrator.dataPlaneNamespace" -}}
{{- if .Values.broker.dataPlaneNamespace }}
{{- .Values.broker.dataPlaneNamespace }}
{{- else if eq .Values.broker.class "KafkaNamespaced" }}
{{- .Release.Namespace }}
{{- else }}
{{- "knative-eventing" }}
{{- end }}
{{- end }}

{{- define "orchestrator.minioEndpoint" -}}
{{- if .Values.minio.bundled }}
{{- printf "%s-minio.%s.svc:9000" (include "orchestrator.fullname" .) .Release.Namespace }}
{{- else }}
{{- required "minio.endpoint is required when minio.bundled is false" .Values.minio.endpoint }}
{{- end }}
{{- end }}

{{- define "orchestrator.minioSecure" -}}
{{- if .Values.minio.bundled }}false{{ else }}{{ .Values.minio.secure }}{{ end }}
{{- end }}

{{- define "orchestrator.qdrantUrl" -}}
{{- if .Values.qdrant.bundled }}
{{- printf "http://%s-qdrant.%s.svc:6333" (include "orchestrator.fullname" .) .Release.Namespace }}
{{- else }}
{{- required "qdrant.url is required when qdrant.bundled is false" .Values.qdrant.url }}
{{- end }}
{{- end }}

{{- define "orchestrator.qdrantApiKey" -}}
{{- if or .Values.qdrant.bundled .Values.qdrant.apiKeyEnabled }}true{{ end }}
{{- end }}

{{/* Dense embeddings and the LLM planner both need the Gemini key. */}}
{{- define "orchestrator.geminiNeeded" -}}
{{- if or .Values.agent.gemini.enabled (ne .Values.knowledge.embeddingModel "none") }}true{{ end }}
{{- end }}

{{/* A secret's file path inside every pod that mounts it. */}}
{{- define "orchestrator.secretPath" -}}
/var/run/secrets/orchestrator/{{ . }}
{{- end }}

{{/*
A projected volume holding exactly the Secret keys one pod needs; call with
(dict "root" $ "keys" (list "ingest-token" ...)). Only those files exist in that pod.
*/}}
{{- define "orchestrator.secretVolume" -}}
- name: secrets
  projected:
    # Read-only for everyone in the pod: Knative Services cannot set an fsGroup.
    defaultMode: 0444
    sources:
      - secret:
          name: {{ include "orchestrator.secretName" .root }}
          items:
            {{- range .keys }}
            - key: {{ . }}
              path: {{ . }}
            {{- end }}
      {{- $next := list }}
      {{- range .keys }}{{ if hasSuffix ".crt" . }}{{ $next = append $next (replace ".crt" ".next.crt" .) }}{{ end }}{{ end }}
      {{- if $next }}
      {{- /* A producer's next public key, trusted beside the current one while keys rotate
           (README, "Trust model"); absent the rest of the time. */}}
      - secret:
          name: {{ include "orchestrator.secretName" .root }}
          optional: true
          items:
            {{- range $next }}
            - key: {{ . }}
              path: {{ . }}
            {{- end }}
      {{- end }}
{{- end }}

{{/* `- name: <PREFIX><FIELD>_FILE` entries for (dict "prefix" "KB_" "files" (dict "field" "key")). */}}
{{- define "orchestrator.secretFileEnv" -}}
{{- $prefix := .prefix }}
{{- range $field, $key := .files }}
- name: {{ printf "%s%s_FILE" $prefix ($field | upper) }}
  value: {{ include "orchestrator.secretPath" $key | quote }}
{{- end }}
{{- end }}

{{/* A function's free-form `settings` map as <PREFIX><KEY> env; lists and maps as JSON. */}}
{{- define "orchestrator.settingsEnv" -}}
{{- $prefix := .prefix }}
{{- range $key, $value := .settings }}
- name: {{ printf "%s%s" $prefix ($key | upper) }}
  {{- if or (kindIs "slice" $value) (kindIs "map" $value) }}
  value: {{ toJson $value | quote }}
  {{- else }}
  value: {{ toString $value | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The knowledge base's connection (KB_*): the agent and the index Job read the same. */}}
{{- define "orchestrator.knowledgeEnv" -}}
- name: KB_RUNBOOKS_DIR
  value: /runbooks
- name: KB_QDRANT_URL
  value: {{ include "orchestrator.qdrantUrl" . | quote }}
- name: KB_COLLECTION
  value: {{ .Values.knowledge.collection | quote }}
- name: KB_MINIO_ENDPOINT
  value: {{ include "orchestrator.minioEndpoint" . | quote }}
- name: KB_MINIO_SECURE
  value: {{ include "orchestrator.minioSecure" . | quote }}
- name: KB_MINIO_BUCKET
  value: {{ .Values.minio.runbooksBucket | quote }}
{{- if .Values.minio.region }}
- name: KB_MINIO_REGION
  value: {{ .Values.minio.region | quote }}
{{- end }}
- name: KB_EMBEDDING_MODEL
  value: {{ .Values.knowledge.embeddingModel | quote }}
{{- $files := dict "minio_access_key" "minio-access-key" "minio_secret_key" "minio-secret-key" }}
{{- if include "orchestrator.qdrantApiKey" . }}
{{- $_ := set $files "qdrant_api_key" "qdrant-api-key" }}
{{- end }}
{{- if ne .Values.knowledge.embeddingModel "none" }}
{{- $_ := set $files "embedding_api_key" "gemini-api-key" }}
{{- end }}
{{- include "orchestrator.secretFileEnv" (dict "prefix" "KB_" "files" $files) }}
{{- include "orchestrator.settingsEnv" (dict "prefix" "KB_" "settings" .Values.knowledge.settings) }}
{{- end }}

{{/* The Secret keys the knowledge-base env above refers to. */}}
{{- define "orchestrator.knowledgeKeys" -}}
{{- $keys := list "minio-access-key" "minio-secret-key" }}
{{- if include "orchestrator.qdrantApiKey" . }}{{ $keys = append $keys "qdrant-api-key" }}{{ end }}
{{- if ne .Values.knowledge.embeddingModel "none" }}{{ $keys = append $keys "gemini-api-key" }}{{ end }}
{{- toJson $keys }}
{{- end }}

{{/* The chart's runbooks (the index Job indexed these), mounted where KB_/EXECUTOR_ read. */}}
{{- define "orchestrator.runbooksVolume" -}}
- name: runbooks
  configMap:
    name: {{ include "orchestrator.fullname" . }}-runbooks
{{- end }}

{{/* Non-root, read-only root filesystem, no capabilities: what every container runs with. */}}
{{- define "orchestrator.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "orchestrator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Hop signatures: (dict "fn" "router" "verifies" (list "ingest" "executor")). `keyEnv` gives the
function its private key file and, when it verifies anyone, the folder of public keys;
`keyFiles` (JSON list) the Secret items to mount: its own `.key` and only the `.crt` of the
producers it verifies. The public keys share the secrets folder: only `.crt` files are read.
*/}}
{{- define "orchestrator.keyEnv" -}}
{{- $prefix := .fn | upper }}
- name: {{ $prefix }}_SIGNING_KEY_FILE
  value: {{ include "orchestrator.secretPath" (printf "%s.key" .fn) | quote }}
{{- if .verifies }}
- name: {{ $prefix }}_PUBLIC_KEYS_DIR
  value: {{ include "orchestrator.secretPath" "" | trimSuffix "/" | quote }}
{{- end }}
{{- end }}

{{- define "orchestrator.keyFiles" -}}
{{- $files := list (printf "%s.key" .fn) }}
{{- range .verifies }}{{ $files = append $files (printf "%s.crt" .) }}{{ end }}
{{- $files | toJson }}
{{- end }}
