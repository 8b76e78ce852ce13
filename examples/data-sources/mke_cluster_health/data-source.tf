# Checked at the end of every plan and apply: a failed assertion is a warning,
# never an error, and nothing stops. A controller that does not answer is
# reported too (not running); a refused SSH login or a changed host key fails
# the check with an error.
check "cluster_health" {
  data "mke_cluster_health" "main" {
    controllers = mke_cluster.main.controllers # carries the host keys the cluster pinned
  }

  assert {
    condition = data.mke_cluster_health.main.healthy
    error_message = format(
      "The cluster is not healthy. Controllers not running: %s. Nodes not Ready: %s.",
      jsonencode([for k, c in data.mke_cluster_health.main.controller_health : k if !(c.running && c.etcd_member_healthy)]),
      jsonencode([for n, node in data.mke_cluster_health.main.nodes : n if !node.ready]),
    )
  }

  assert {
    # Null when no certificate could be read: the first assertion reports that.
    condition = timecmp(
      coalesce(data.mke_cluster_health.main.certificates_expire_at, "9999-12-31T00:00:00Z"),
      timeadd(plantimestamp(), "720h"),
    ) > 0
    error_message = "A control-plane certificate expires on ${data.mke_cluster_health.main.certificates_expire_at}, within 30 days."
  }
}
