resource "mke_node" "worker" {
  for_each = { w1 = "192.0.2.21", w2 = "192.0.2.22" }

  cluster_id  = mke_cluster.main.id
  controllers = mke_cluster.main.controllers
  k0s_version = mke_cluster.main.k0s_version
  address     = each.value

  labels = { tier = "web" }
  taints = ["dedicated=web:NoSchedule"]
}
