-- Health of an ecr.platform.dev EcrRegistry for Argo CD (gopher-lua, Lua 5.1).
-- Ready=True for the current generation: Healthy. Stalled=True (waits for a change: another EcrRegistry manages
-- the registry, a pull through cache rule it did not create, an invalid spec, IAM): Degraded. Observe-only:
-- Suspended. Otherwise (not yet reconciled, a new generation, an error being retried): Progressing.
-- The EcrRegistry always had the Stalled condition, so no reason list is needed (unlike EcrRepository's).
local hs = {}

local function condition(conditionType)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == conditionType then
        return c
      end
    end
  end
  return nil
end

local function describe(c)
  return (c.reason or "") .. ": " .. (c.message or "")
end

local annotations = obj.metadata ~= nil and obj.metadata.annotations or nil
if annotations ~= nil and annotations["ecr.platform.dev/observe-only"] == "true" then
  hs.status = "Suspended"
  local ready = condition("Ready")
  hs.message = "observe-only: the operator reads AWS and writes nothing"
  if ready ~= nil then
    hs.message = hs.message .. " (" .. describe(ready) .. ")"
  end
  return hs
end

local generation = obj.metadata ~= nil and obj.metadata.generation or nil
local observed = obj.status ~= nil and obj.status.observedGeneration or nil
local ready = condition("Ready")
if ready == nil or observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready)
return hs
