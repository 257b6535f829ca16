# Consul ACL policy of the node token (CONSUL_ACL_TOKEN) of the "Docker" plan (the distribution engine, Fedora 45): least privilege for
# what its first-boot scripts and its agent call. Written for CONSUL_KV_PREFIX = "synergy"; change
# the key names if you use another prefix. Each rule says which call needs it; the ACL each Consul
# endpoint requires is in its API docs ("ACL Required"): https://developer.hashicorp.com/consul/api-docs
# tests/content_first_boot.rs checks every endpoint the plan's scripts call against this file.
# Create it with: consul acl policy create -name docker -rules @docker.hcl

# GET /v1/agent/self (consul-install, consul-health): agent:read.
agent_prefix "" { policy = "read" }
# The agent registers its node; the node-level TTL check "first-boot" (check/register, check/update).
# With a per-node token, a node identity can replace this rule.
node_prefix "" { policy = "write" }
# Anti-entropy of the agent reads the catalog's services.
service_prefix "" { policy = "read" }
# Readiness marker <prefix>/nodes/<host>/status (node-status).
key_prefix "synergy/nodes/" { policy = "write" }
# Root SSH key (hostname-ssh) and DataDog API key (datadog-agent), set by the operator.
key "synergy/root" { policy = "read" }
key "synergy/datadog" { policy = "read" }
# The role's service and its check (service/register, check/update/service:docker).
service "docker" { policy = "write" }
