# Workers for an mke_cluster, one mke_node per entry of `machines`.
# Removing an entry drains and removes only that machine.
terraform {
  required_providers {
    mke = { source = "mke/mke" }
  }
}

variable "cluster" {
  description = "The mke_cluster resource the workers join."
  type = object({
    id              = string
    k0s_version     = string
    k0s_binary_path = string
    controllers = map(object({
      address         = string
      private_address = string
      port            = number
      user            = string
      host_key        = string
      workloads       = bool
    }))
  })
}

variable "machines" {
  description = "Worker addresses by a stable name."
  type        = map(string)
}

variable "labels" {
  description = "Labels for every worker."
  type        = map(string)
  default     = {}
}

variable "taints" {
  description = "Taints for every worker."
  type        = list(string)
  default     = []
}

resource "mke_node" "this" {
  for_each = var.machines

  cluster_id      = var.cluster.id
  controllers     = var.cluster.controllers
  k0s_version     = var.cluster.k0s_version
  k0s_binary_path = var.cluster.k0s_binary_path
  address         = each.value
  labels          = var.labels
  taints          = var.taints
}

output "node_names" {
  description = "Kubernetes node name of each worker."
  value       = { for k, n in mke_node.this : k => n.node_name }
}
