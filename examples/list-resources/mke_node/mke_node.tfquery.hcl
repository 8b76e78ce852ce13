# workers.tfquery.hcl, beside a configuration with the provider "mke" block:
#   terraform query                                  # lists the workers
#   terraform query -generate-config-out=workers.tf  # writes resource and import blocks
list "mke_node" "workers" {
  provider = mke

  config {
    controllers = {
      cp1 = {
        address  = "192.0.2.11"
        host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
      }
    }
  }
}
