# Not part of the documented snippet: the cluster to check.
resource "mke_cluster" "main" {
  name = "demo"

  controllers = {
    cp1 = { address = "192.0.2.11" }
  }
}
