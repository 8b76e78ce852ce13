terraform {
  required_providers {
    mke = {
      source  = "mke/mke"
      version = ">= 0.1.0"
    }
  }
}

provider "mke" {
  ssh {
    user        = "ubuntu"
    private_key = var.ssh_private_key
  }
}

variable "ssh_private_key" {
  description = "SSH private key for the hosts, e.g. TF_VAR_ssh_private_key=\"$(cat ~/.ssh/id_ed25519)\"."
  type        = string
  sensitive   = true
}
