# One controller that also runs workloads: the smallest MKE 4 cluster.
terraform {
  required_providers {
    mke = { source = "mke/mke" }
  }
}

provider "mke" {
  ssh {
    user        = "root"
    private_key = var.ssh_private_key
  }
}

resource "mke_cluster" "main" {
  name = "single"

  controllers = {
    cp1 = { address = "192.0.2.11", workloads = true }
  }
}

output "api_endpoint" {
  value = mke_cluster.main.api_endpoint
}

variable "ssh_private_key" {
  description = "SSH private key for the hosts, e.g. TF_VAR_ssh_private_key=\"$(cat ~/.ssh/id_ed25519)\"."
  type        = string
  sensitive   = true
}
