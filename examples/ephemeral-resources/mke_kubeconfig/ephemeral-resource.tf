# A token for this run only: Close deletes the Secret it is bound to when the
# run ends, and `duration` caps it if Close never comes. Nothing of it is
# written to state or plan files.
ephemeral "mke_kubeconfig" "admin" {
  controllers  = mke_cluster.main.controllers # carries the host keys the cluster pinned
  api_endpoint = mke_cluster.main.api_endpoint
  duration     = "1h"
}

provider "kubernetes" {
  host                   = ephemeral.mke_kubeconfig.admin.host
  cluster_ca_certificate = ephemeral.mke_kubeconfig.admin.cluster_ca_certificate
  token                  = ephemeral.mke_kubeconfig.admin.token
}
