# Three controllers behind a load balancer, and workers from a map.
terraform {
  required_providers {
    mke = { source = "mke/mke" }
  }
}

provider "mke" {
  ssh {
    user        = "ubuntu"
    private_key = var.ssh_private_key
  }
}

resource "mke_cluster" "main" {
  name = "prod"

  controllers = {
    cp1 = { address = "192.0.2.11", private_address = "10.0.0.11" }
    cp2 = { address = "192.0.2.12", private_address = "10.0.0.12" }
    cp3 = { address = "192.0.2.13", private_address = "10.0.0.13" }
  }

  api = {
    external_address = "k8s.example.com"
  }

  lifecycle {
    prevent_destroy = true
  }
}

module "workers" {
  source = "../modules/workers"

  cluster  = mke_cluster.main
  machines = { w1 = "192.0.2.21", w2 = "192.0.2.22", w3 = "192.0.2.23" }
  labels   = { tier = "web" }
}

variable "ssh_private_key" {
  description = "SSH private key for the hosts, e.g. TF_VAR_ssh_private_key=\"$(cat ~/.ssh/id_ed25519)\"."
  type        = string
  sensitive   = true
}
