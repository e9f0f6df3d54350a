{{/* Object names are fixed: one operator per cluster (the CRD and ClusterRoles are cluster-wide). */}}
{{- define "meshlogging.name" -}}meshlogging-operator{{- end }}

{{- define "meshlogging.selectorLabels" -}}
app.kubernetes.io/name: meshlogging-operator
{{- end }}

{{- define "meshlogging.labels" -}}
app.kubernetes.io/name: meshlogging-operator
app.kubernetes.io/part-of: meshlogging
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* RBAC rules, in the order of manifests/rbac.yaml (see the README, "Permissions"). */}}

{{/* The resource and its children: namespaced, so a Role when one namespace is watched. */}}
{{- define "meshlogging.rules.namespaced" -}}
# The resource: watch it, add/remove the finalizer, write status.
- apiGroups: [logging.mcp-mesh.io]
  resources: [meshloggings]
  verbs: [get, list, watch, patch]
- apiGroups: [logging.mcp-mesh.io]
  resources: [meshloggings/status]
  verbs: [patch]
# Children: server-side apply (patch; creating through apply also needs create),
# watched, pruned when no longer rendered.
- apiGroups: [apps]
  resources: [statefulsets, deployments, daemonsets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps, serviceaccounts]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, patch, delete]
# Generated credentials are created once and never changed; referenced ones are read.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create]
# deletionPolicy: Delete removes the Elasticsearch volumes.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [list, delete]
{{- end }}

{{/* Always cluster-wide: the collector's ClusterRoleBinding. */}}
{{- define "meshlogging.rules.cluster" -}}
# The collector's cluster-scoped binding: applied, deleted by the finalizer.
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterrolebindings]
  verbs: [get, create, patch, delete]
# Binding the collector role without holding its permissions.
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles]
  verbs: [bind]
  resourceNames: [{{ .Values.collectorClusterRole }}]
{{- end }}

{{- define "meshlogging.rules.events" -}}
# Events users read with kubectl describe.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
