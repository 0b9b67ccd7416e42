{{/* Names, labels and shared fragments of the SpeechBatch chart. */}}

{{- define "speechbatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-speechbatch", or "<release>" when it already contains the chart name. Kept to
52 characters so that suffixes such as "-api-shim" stay within 63. */}}
{{- define "speechbatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "speechbatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "speechbatch.labels" -}}
helm.sh/chart: {{ include "speechbatch.chart" . }}
app.kubernetes.io/name: {{ include "speechbatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: speechbatch
{{- end }}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "operator"). */}}
{{- define "speechbatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "speechbatch.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The namespace whose SpeechBatch resources are acted on (watchNamespace, else the release's). */}}
{{- define "speechbatch.jobNamespace" -}}
{{- default .Release.Namespace .Values.watchNamespace }}
{{- end }}

{{- define "speechbatch.operatorServiceAccount" -}}
{{- default (printf "%s-operator" (include "speechbatch.fullname" .)) .Values.serviceAccounts.operator.name }}
{{- end }}

{{- define "speechbatch.apiShimServiceAccount" -}}
{{- default (printf "%s-api-shim" (include "speechbatch.fullname" .)) .Values.serviceAccounts.apiShim.name }}
{{- end }}

{{- define "speechbatch.shardServiceAccount" -}}
{{- default (printf "%s-shard" (include "speechbatch.fullname" .)) .Values.serviceAccounts.shard.name }}
{{- end }}

{{/* The API key Secret: the existing one, or the one the chart generates. */}}
{{- define "speechbatch.apiKeySecret" -}}
{{- default (printf "%s-api-key" (include "speechbatch.fullname" .)) .Values.apiKey.existingSecret }}
{{- end }}

{{/* image reference: include with (dict "ctx" $ "image" .Values.images.operator). */}}
{{- define "speechbatch.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* The end point policy of storage.* as container env entries (only what is set), for the
operator and the REST shim; the operator passes the same variables on to shard pods. Entries
are joined with commas, so none may hold one. */}}
{{- define "speechbatch.endpointPolicyEnv" -}}
{{- with .Values.storage.endpointAllow }}
{{- range . }}
{{- if contains "," (toString .) }}
{{- fail (printf "storage.endpointAllow: %q holds a comma; give one entry per list item" .) }}
{{- end }}
{{- end }}
- name: SPEECHBATCH_ENDPOINT_ALLOW
  value: {{ join "," . | quote }}
{{- end }}
{{- if .Values.storage.endpointDenyPrivate }}
- name: SPEECHBATCH_ENDPOINT_DENY_PRIVATE
  value: "true"
{{- end }}
{{- end }}
