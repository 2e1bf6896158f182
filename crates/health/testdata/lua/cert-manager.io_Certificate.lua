-- Health of a cert-manager Certificate, in the style of the checks Argo CD
-- ships in resource_customizations: Ready=True is Healthy, Ready=False is
-- Degraded unless a new certificate is being issued, otherwise Progressing.
local hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  local issuing = false
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Issuing" and condition.status == "True" then
      issuing = true
      hs.message = condition.message
    end
  end
  if issuing then
    hs.status = "Progressing"
    return hs
  end
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
