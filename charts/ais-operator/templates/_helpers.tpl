{{/*
Shared names, labels and helpers of the ais-operator chart.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "ais-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified name prefix of every object. The release name alone when it already contains
the chart name (e.g. `helm install ais-operator ...` gives `ais-operator`).
*/}}
{{- define "ais-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Chart label value: name-version. */}}
{{- define "ais-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object of the release. */}}
{{- define "ais-operator.labels" -}}
helm.sh/chart: {{ include "ais-operator.chart" . }}
app.kubernetes.io/name: {{ include "ais-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ais-operator
{{- end -}}

{{/*
Labels of one component's objects. Call with (dict "root" $ "component" "controller").
*/}}
{{- define "ais-operator.componentLabels" -}}
{{ include "ais-operator.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
Selector labels of one component's pods (immutable in a Deployment: never add to these).
Call with (dict "root" $ "component" "controller").
*/}}
{{- define "ais-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ais-operator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Names of the two components' objects. */}}
{{- define "ais-operator.controller.fullname" -}}
{{- printf "%s-controller" (include "ais-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ais-operator.webhook.fullname" -}}
{{- printf "%s-webhook" (include "ais-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ServiceAccount of the controller. */}}
{{- define "ais-operator.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create -}}
{{- default (include "ais-operator.controller.fullname" .) .Values.controller.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.controller.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount of the webhook. */}}
{{- define "ais-operator.webhook.serviceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create -}}
{{- default (include "ais-operator.webhook.fullname" .) .Values.webhook.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.webhook.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Service the API server calls (port 443 -> 9443). */}}
{{- define "ais-operator.webhook.serviceName" -}}
{{- include "ais-operator.webhook.fullname" . -}}
{{- end -}}

{{/* Secret with the webhook's serving certificate (tls.crt, tls.key, ca.crt), in both modes. */}}
{{- define "ais-operator.webhook.certSecretName" -}}
{{- printf "%s-cert" (include "ais-operator.webhook.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* cert-manager Certificate of the webhook (cert-manager mode). */}}
{{- define "ais-operator.webhook.certificateName" -}}
{{- printf "%s-serving-cert" (include "ais-operator.webhook.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Self-signed Issuer of the webhook certificate (cert-manager mode without issuerRef). */}}
{{- define "ais-operator.webhook.issuerName" -}}
{{- printf "%s-selfsigned-issuer" (include "ais-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Cluster DNS domain used in the webhook certificate's names. */}}
{{- define "ais-operator.clusterDomain" -}}
{{- default "cluster.local" .Values.kubernetesClusterDomain -}}
{{- end -}}

{{/* DNS names of the webhook Service, as a list in YAML. */}}
{{- define "ais-operator.webhook.dnsNames" -}}
{{- $svc := include "ais-operator.webhook.serviceName" . -}}
- {{ printf "%s.%s.svc" $svc .Release.Namespace }}
- {{ printf "%s.%s.svc.%s" $svc .Release.Namespace (include "ais-operator.clusterDomain" .) }}
{{- end -}}

{{/* Image reference of a component. Call with (dict "root" $ "image" .Values.controller.image). */}}
{{- define "ais-operator.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* imagePullSecrets of the pods. */}}
{{- define "ais-operator.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
{{- if kindIs "string" . }}
  - name: {{ . }}
{{- else }}
  - name: {{ .name }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
topologySpreadConstraints of a component: the default spread over nodes (when
spreadAcrossNodes) followed by the user's list.
Call with (dict "root" $ "component" "webhook" "values" .Values.webhook).
*/}}
{{- define "ais-operator.topologySpread" -}}
{{- $constraints := list -}}
{{- if .values.spreadAcrossNodes -}}
{{- $selector := include "ais-operator.selectorLabels" (dict "root" .root "component" .component) | fromYaml -}}
{{- $constraints = append $constraints (dict "maxSkew" 1 "topologyKey" "kubernetes.io/hostname" "whenUnsatisfiable" "ScheduleAnyway" "labelSelector" (dict "matchLabels" $selector)) -}}
{{- end -}}
{{- $constraints = concat $constraints (.values.topologySpreadConstraints | default list) -}}
{{- with $constraints }}
topologySpreadConstraints:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Namespace selector of the webhook configurations in namespaceScope mode (empty otherwise).
*/}}
{{- define "ais-operator.webhook.namespaceSelector" -}}
{{- with .Values.namespaceScope }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values:
        {{- toYaml . | nindent 8 }}
{{- end }}
{{- end -}}
