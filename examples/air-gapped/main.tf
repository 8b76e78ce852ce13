# Hosts without internet access: the k0s binary is uploaded from here.
terraform {
  required_providers {
    mke = { source = "mke/mke" }
  }
}

provider "mke" {
  ssh {
    user         = "ubuntu"
    private_key  = var.ssh_private_key
    bastion_host = "192.0.2.5"
  }
}

resource "mke_cluster" "main" {
  name            = "airgap"
  k0s_version     = "v1.29.3+k0s.0"
  k0s_binary_path = "/srv/k0s/k0s-v1.29.3+k0s.0-amd64"
  k0s_sha256      = var.k0s_sha256

  controllers = {
    cp1 = { address = "192.0.2.11" }
  }

  # Images come from a registry inside the network.
  k0s_config_overrides = yamlencode({
    spec = {
      images = {
        default_pull_policy = "IfNotPresent"
        repository          = "registry.example.com"
      }
    }
  })
}

resource "mke_node" "worker" {
  for_each = { w1 = "192.0.2.21" }

  cluster_id      = mke_cluster.main.id
  controllers     = mke_cluster.main.controllers
  k0s_version     = mke_cluster.main.k0s_version
  k0s_binary_path = mke_cluster.main.k0s_binary_path
  k0s_sha256      = mke_cluster.main.k0s_sha256
  address         = each.value
}

variable "ssh_private_key" {
  description = "SSH private key for the hosts, e.g. TF_VAR_ssh_private_key=\"$(cat ~/.ssh/id_ed25519)\"."
  type        = string
  sensitive   = true
}

variable "k0s_sha256" {
  description = "sha256 of the k0s binary at k0s_binary_path, as `sha256sum` prints it. The apply stops before any upload when the file has another."
  type        = string
}
