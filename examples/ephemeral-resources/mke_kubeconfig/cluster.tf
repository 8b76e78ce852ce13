# Not part of the documented snippet: the cluster to get credentials for.
resource "mke_cluster" "main" {
  name = "demo"

  controllers = {
    cp1 = { address = "192.0.2.11" }
  }
}
