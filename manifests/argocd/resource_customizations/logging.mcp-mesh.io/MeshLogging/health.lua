-- Argo CD health check for logging.mcp-mesh.io/MeshLogging, in the layout of Argo CD's
-- resource_customizations (health_test.yaml and testdata/ beside it). The argocd-cm patch
-- in manifests/argocd/ is generated from this file; tests/argocd_health.rs runs both through
-- Argo CD's own Lua VM (hack/argocd-lua). Argo CD runs custom checks with the package, base
-- and table libraries and a reduced os only: no string or math library, no string methods.
--
--   paused annotation                     -> Suspended
--   no status / no observedGeneration     -> Progressing (operator has not seen it)
--   generation > observedGeneration       -> Progressing (spec change not seen yet)
--   Ready=True, phase Degraded            -> Degraded (the stack exists but does not do
--     its job: logs stopped, ILM stuck, disk full, snapshots failing)
--   Ready=True                            -> Healthy
--   Ready=False for a reason that needs a
--     person, or phase Degraded           -> Degraded
--   anything else                         -> Progressing (a rolling upgrade or
--     restart: status.operation's message)

local hs = { status = "Progressing", message = "Waiting for the operator" }

-- Reasons of Ready=False that retrying will not clear: a spec, a credential or
-- Elasticsearch itself needs fixing. Other reasons (WaitingForElasticsearch,
-- NodesNotReady, Progressing, ElasticsearchUnreachable while provisioning, and
-- reasons this script does not know) stay Progressing unless the operator
-- reports phase Degraded.
local degradedReasons = {
  InvalidSpec = true,
  Unauthorized = true,
  Forbidden = true,
  CredentialsMissing = true,
  Rejected = true,
  Conflict = true,
  Red = true,
  UnsupportedVersion = true,
}

-- Conditions about whether the pipeline works, not whether its objects exist: one that
-- is False makes the phase Degraded while Ready stays True.
local pipelineConditions = {
  LogsFlowing = true,
  IndexLifecycleHealthy = true,
  DiskHealthy = true,
  SnapshotsHealthy = true,
}

local function text(value)
  if value == nil then
    return ""
  end
  return tostring(value)
end

-- "<reason>: <message>", or whichever of the two is set.
local function describe(condition)
  local reason = text(condition.reason)
  local message = text(condition.message)
  if reason == "" then
    return message
  end
  if message == "" then
    return reason
  end
  return reason .. ": " .. message
end

local metadata = obj.metadata or {}

-- Convention for Argo CD users: annotate a MeshLogging with
-- logging.mcp-mesh.io/paused: "true" to show it as Suspended. The operator
-- does not act on this annotation yet; it keeps reconciling.
if metadata.annotations ~= nil and metadata.annotations["logging.mcp-mesh.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Paused (annotation logging.mcp-mesh.io/paused=true)"
  return hs
end

local status = obj.status
if status == nil or status.observedGeneration == nil then
  return hs
end

local generation = metadata.generation
if generation ~= nil and generation > status.observedGeneration then
  hs.message = "Waiting for the operator to observe generation " .. text(generation)
  return hs
end

local ready = nil
local failing = {}
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif pipelineConditions[condition.type] and condition.status == "False" then
      table.insert(failing, condition)
    end
  end
end

-- A Ready condition written for an older generation says nothing about this one.
if ready ~= nil and ready.observedGeneration ~= nil and generation ~= nil and ready.observedGeneration < generation then
  hs.message = "Waiting for the operator to observe generation " .. text(generation)
  return hs
end

-- Ready, but a stuck pipeline: every failing pipeline condition, in the status's order.
if ready ~= nil and ready.status == "True" and status.phase == "Degraded" and #failing > 0 then
  hs.status = "Degraded"
  hs.message = ""
  for i, condition in ipairs(failing) do
    if i > 1 then
      hs.message = hs.message .. "; "
    end
    hs.message = hs.message .. text(condition.type) .. " " .. describe(condition)
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready.message)
  if hs.message == "" then
    hs.message = "Ready"
  end
  return hs
end

if ready ~= nil and ready.status == "False" and degradedReasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

if status.phase == "Degraded" then
  hs.status = "Degraded"
  if ready ~= nil then
    hs.message = describe(ready)
  else
    hs.message = "Phase Degraded"
  end
  return hs
end

-- A rolling upgrade or restart takes one node away at a time (Ready is False
-- meanwhile): say where it is, as status.operation does.
if (status.phase == "Upgrading" or status.phase == "Restarting") and status.operation ~= nil and status.operation.message ~= nil then
  hs.message = text(status.operation.message)
  return hs
end

-- Pending, Provisioning, Configuring, or a phase or reason this script does
-- not know: the operator is still working.
if ready ~= nil then
  hs.message = describe(ready)
elseif status.phase ~= nil then
  hs.message = "Phase " .. text(status.phase)
end
return hs
