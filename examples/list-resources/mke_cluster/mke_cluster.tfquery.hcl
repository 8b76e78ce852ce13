# clusters.tfquery.hcl, beside a configuration with the provider "mke" block:
#   terraform query -generate-config-out=clusters.tf
list "mke_cluster" "found" {
  provider = mke

  config {
    addresses = ["192.0.2.11", "192.0.2.12", "192.0.2.13:2222"]
  }
}
