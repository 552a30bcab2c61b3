{{/*
One function as a Knative Service. Call with
  (dict "root" $ "fn" "router" "prefix" "ROUTER_" "env" <YAML list text> "secretKeys" (list ...)
        "minScale" <int> "extraVolumes" <YAML text> "extraMounts" <YAML text>
        "revisionAnnotations" (dict ...) "brokerClient" <bool>)
Every function runs the same image; FUNCTION_SOURCE picks its main.py. A second Service of the
same function (the public console) adds "component" (its name suffix and component label) and
"clusterLocal" (overriding the function's own value).
*/}}
{{- define "orchestrator.ksvc" -}}
{{- $root := .root }}
{{- $fn := .fn }}
{{- $cfg := index $root.Values $fn }}
{{- $component := .component | default $fn }}
{{- $local := hasKey . "clusterLocal" | ternary .clusterLocal (hasKey $cfg "clusterLocal" | ternary $cfg.clusterLocal true) }}
{{- $labels := include "orchestrator.labels" (dict "root" $root "component" $component) }}
{{- /* Knative lets containerConcurrency requests in; the liveness probe comes on top of them
       straight from the kubelet, so it needs threads of its own. */ -}}
{{- if and (gt (int $cfg.containerConcurrency) 0) (lt (int $cfg.threads) (add (int $cfg.containerConcurrency) 2)) }}
{{- fail (printf "%s.threads (%v) must be at least %s.containerConcurrency + 2 (%d): with every thread busy, health checks fail and the kubelet restarts the pod" $fn $cfg.threads $fn (add (int $cfg.containerConcurrency) 2)) }}
{{- end }}
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {{ include "orchestrator.serviceName" (dict "root" $root "fn" $component) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- $labels | nindent 4 }}
    {{- if $local }}
    networking.knative.dev/visibility: cluster-local
    {{- end }}
spec:
  template:
    metadata:
      labels:
        {{- $labels | nindent 8 }}
        {{- if .brokerClient }}
        orchestrator.io/broker-client: "true"
        {{- end }}
      annotations:
        autoscaling.knative.dev/min-scale: {{ .minScale | quote }}
        autoscaling.knative.dev/max-scale: {{ $cfg.maxScale | quote }}
        autoscaling.knative.dev/metric: concurrency
        autoscaling.knative.dev/target: {{ $cfg.target | quote }}
        {{- range $k, $v := .revisionAnnotations }}
        {{ $k }}: {{ $v | quote }}
        {{- end }}
        {{- range $k, $v := $cfg.annotations }}
        {{ $k }}: {{ $v | quote }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "orchestrator.serviceName" (dict "root" $root "fn" $fn) }}
      containerConcurrency: {{ $cfg.containerConcurrency }}
      timeoutSeconds: {{ $cfg.timeoutSeconds }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $fn }}
          image: {{ include "orchestrator.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [functions-framework]
          ports:
            - name: http1
              containerPort: 8080
          env:
            - name: FUNCTION_TARGET
              value: handle
            - name: FUNCTION_SOURCE
              value: functions/{{ $fn }}/main.py
            - name: FUNCTION_SIGNATURE_TYPE
              value: http
            # gunicorn's default is 4 threads per CPU of the node, whatever the pod's share.
            - name: THREADS
              value: {{ $cfg.threads | quote }}
            - name: HOME
              value: /tmp
            {{- with $root.Values.otel }}
            {{- if .endpoint }}
            # OpenTelemetry export (orchestrator.telemetry); unset = the SDK is never imported.
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: {{ .endpoint | quote }}
            - name: OTEL_EXPORTER_OTLP_PROTOCOL
              value: http/protobuf
            - name: OTEL_SERVICE_NAME
              value: {{ printf "orchestrator-%s" $component | quote }}
            {{- with .resourceAttributes }}
            - name: OTEL_RESOURCE_ATTRIBUTES
              value: {{ . | quote }}
            {{- end }}
            {{- with .headersSecret }}
            - name: OTEL_EXPORTER_OTLP_HEADERS
              valueFrom:
                secretKeyRef:
                  name: {{ . | quote }}
                  key: headers
            {{- end }}
            {{- end }}
            {{- end }}
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with include "orchestrator.settingsEnv" (dict "prefix" .prefix "settings" $cfg.settings) | trim }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with include "orchestrator.senderIdentityEnv" (dict "root" $root "fn" $fn "component" $component "prefix" .prefix) | trim }}
            {{- . | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $cfg.resources | nindent 12 }}
          # No periodSeconds: Knative's queue-proxy probes a starting pod every few milliseconds
          # only while the period is unset or 0; any period turns that off, and a cold start
          # waits up to one period on every hop of the loop.
          readinessProbe:
            httpGet:
              path: /healthz
          livenessProbe:
            httpGet:
              path: /healthz
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 3
          securityContext:
            {{- include "orchestrator.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            # HOME, TMPDIR and gunicorn's heartbeat files: the root filesystem is read-only.
            - name: tmp
              mountPath: /tmp
            {{- if .secretKeys }}
            - name: secrets
              mountPath: /var/run/secrets/orchestrator
              readOnly: true
            {{- end }}
            {{- with .extraMounts }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            medium: Memory
            sizeLimit: 64Mi
        {{- if .secretKeys }}
        {{- include "orchestrator.secretVolume" (dict "root" $root "keys" .secretKeys) | nindent 8 }}
        {{- end }}
        {{- with .extraVolumes }}
        {{- . | nindent 8 }}
        {{- end }}
{{- end }}


{{/*
Knative's sender identity (oidc.enabled + oidc.verifySender): the Trigger names this function's
audience, so the dispatcher sends a token for it, and the function verifies it before reading a
delivery (defence in depth beside the event signatures). Only the functions the broker delivers
to, and not the public console, which takes no deliveries.
*/}}
{{- define "orchestrator.senderIdentityEnv" -}}
{{- $oidc := .root.Values.oidc }}
{{- if and $oidc.enabled $oidc.verifySender (has .fn (list "router" "agent" "executor" "console")) (eq .component .fn) }}
- name: {{ .prefix }}OIDC_AUDIENCE
  value: {{ include "orchestrator.audience" (dict "root" .root "fn" .fn) | quote }}
- name: {{ .prefix }}OIDC_ISSUER
  value: {{ required "oidc.issuer: the cluster's service-account issuer (kubectl get --raw /.well-known/openid-configuration)" $oidc.issuer | quote }}
{{- with $oidc.jwksUrl }}
- name: {{ $.prefix }}OIDC_JWKS_URL
  value: {{ . | quote }}
{{- end }}
# The API server serves its issuer's keys to authenticated service accounts, over its own CA.
- name: {{ .prefix }}OIDC_CA_FILE
  value: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
- name: {{ .prefix }}OIDC_TOKEN_FILE
  value: /var/run/secrets/kubernetes.io/serviceaccount/token
{{- end }}
{{- end }}

{{/* The OIDC audience of a function's Knative Service, in Knative's form for addressables. */}}
{{- define "orchestrator.audience" -}}
{{- printf "serving.knative.dev/service/%s/%s" .root.Release.Namespace (include "orchestrator.serviceName" (dict "root" .root "fn" .fn)) }}
{{- end }}
