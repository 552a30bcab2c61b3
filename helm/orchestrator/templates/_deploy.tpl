{{/*
Upgrade guard for the Broker. Knative's webhook rejects any change to an existing Broker's class
annotation or `spec.config`, so a `helm upgrade` that changes them would fail halfway through,
with some objects updated and the Broker not. This fails the render first, with what to do.
Call with (dict "root" $ "existing" <the live Broker, or empty>). `helm template` and Argo CD renders see no live objects
(lookup returns nothing), so there the check is skipped and Knative's own refusal remains.
*/}}
{{- define "orchestrator.brokerUpgradeCheck" -}}
{{- $live := .existing | default dict }}
{{- $class := .root.Values.broker.class }}
{{- $config := include "orchestrator.brokerConfig" .root | fromYaml }}
{{- if $live.metadata }}
{{- $name := $live.metadata.name }}
{{- $liveClass := index ($live.metadata.annotations | default dict) "eventing.knative.dev/broker.class" | default "" }}
{{- if ne $liveClass $class }}
{{- fail (printf "broker.class: the Broker %s exists with class %s and Knative refuses to change a Broker's class; keep broker.class=%s, or delete the Broker first (kubectl -n %s delete broker %s: its topic and undelivered events go with it) and upgrade again" $name $liveClass $liveClass $live.metadata.namespace $name) }}
{{- end }}
{{- $liveConfig := ($live.spec | default dict).config | default dict }}
{{- $liveRef := printf "%s/%s" ($liveConfig.namespace | default "") ($liveConfig.name | default "") }}
{{- $wantRef := printf "%s/%s" $config.namespace $config.name }}
{{- if ne $liveRef $wantRef }}
{{- fail (printf "broker.kafka: the Broker %s exists with config ConfigMap %s and Knative refuses to change a Broker's spec.config (wanted %s); keep the values that named %s, or delete the Broker first and upgrade again" $name $liveRef $wantRef $liveRef) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ConfigMap the Broker's spec.config names: the chart's own, or an existing one. */}}
{{- define "orchestrator.brokerConfig" -}}
{{- $k := .Values.broker.kafka }}
{{- if $k.existingConfigMap.name }}
name: {{ $k.existingConfigMap.name }}
namespace: {{ default .Release.Namespace $k.existingConfigMap.namespace }}
{{- else }}
name: {{ include "orchestrator.fullname" . }}-kafka-broker-config
namespace: {{ .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The index Job's name: a hash of everything its pod template is made of (a Job's template
cannot change, so a new content needs a new Job; the same content keeps the finished one). */}}
{{- define "orchestrator.indexJobName" -}}
{{- $inputs := list (.Files.Glob "files/runbooks/*.md").AsConfig (include "orchestrator.image" .)
      (include "orchestrator.knowledgeEnv" .) (toJson .Values.indexJob) (toJson .Values.minio)
      (toJson .Values.qdrant) (toJson .Values.imagePullSecrets) }}
{{- printf "%s-index-%s" (include "orchestrator.fullname" .) (join "\n" $inputs | sha256sum | trunc 10) }}
{{- end }}
