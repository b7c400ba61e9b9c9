{{/* The chart's name, or nameOverride: the app.kubernetes.io/name label (and the pods' selector). */}}
{{- define "ecr-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Every object's name: fullnameOverride, or the release name (when it contains the chart's name), or
"<release>-<name>". Cluster-scoped objects (ClusterRoles and their bindings) carry it too, so two releases
with different names never collide. */}}
{{- define "ecr-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ecr-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<suffix>", within 63 characters. */}}
{{- define "ecr-operator.suffixed" -}}
{{- printf "%s-%s" (include "ecr-operator.fullname" .context) .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ecr-operator.serviceAccountName" -}}
{{- default (include "ecr-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "ecr-operator.peeringName" -}}
{{- default (include "ecr-operator.fullname" .) .Values.peering.name -}}
{{- end -}}

{{- define "ecr-operator.labels" -}}
{{ include "ecr-operator.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ecr-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecr-operator.name" . }}
{{- end -}}

{{- define "ecr-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}
