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
# Children carry an owner reference with blockOwnerDeletion: where the
# OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift), setting it
# needs update on the owner's finalizers subresource, or every child create is refused.
- apiGroups: [logging.mcp-mesh.io]
  resources: [meshloggings/finalizers]
  verbs: [update]
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
# Generated credentials are created when missing; a derived one (file realm,
# certificates) that no longer matches its source (after a rotation) is replaced by one
# update guarded by its resourceVersion, and only when the MeshLogging owns it.
# Referenced Secrets are only read. No patch, no delete.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update]
# deletionPolicy: Delete removes the Elasticsearch volumes; a larger storage.size
# expands them in place (patch spec.resources.requests.storage).
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [list, patch, delete]
# The collector's pods, read from a watch: which nodes should be sending logs
# (LogsFlowing NodesSilent); the Elasticsearch pods, listed during a rolling restart
# (their revisions) and deleted one at a time by it (the StatefulSet is OnDelete).
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, delete]
{{- end }}

{{/* Always cluster-wide: the collector's ClusterRoleBinding. */}}
{{- define "meshlogging.rules.cluster" -}}
# The collector's cluster-scoped binding: applied (read from a watch), deleted by the finalizer.
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterrolebindings]
  verbs: [get, list, watch, create, patch, delete]
# Whether a StorageClass allows volume expansion, before expanding the volumes.
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get]
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
