# The controllers, with the host keys of the machines, in one place that both
# the cluster and the backup read. A backup triggered by the cluster itself
# cannot read `mke_cluster.main.controllers`: Terraform reports a cycle.
locals {
  controllers = {
    c1 = {
      address  = "192.0.2.11"
      host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
    }
  }
}

resource "mke_cluster" "main" {
  name        = "prod"
  controllers = local.controllers

  lifecycle {
    # A backup before every in-place change of the cluster (upgrade, reconfigure).
    action_trigger {
      events  = [before_update]
      actions = [action.mke_backup.before_change]
    }
  }
}

action "mke_backup" "before_change" {
  config {
    controllers = local.controllers
    directory   = "./backups"
  }
}

# On demand, or from cron: terraform apply -invoke=action.mke_backup.nightly
action "mke_backup" "nightly" {
  config {
    controllers = mke_cluster.main.controllers # carries the host keys the cluster pinned
    directory   = "/var/backups/mke/prod"
    keep        = 30
  }
}
