# Not part of the documented snippet: makes this directory a valid configuration.
terraform {
  required_providers {
    mke = { source = "mke/mke" }
  }
}
