# Not part of the documented snippet: makes this directory a valid configuration.
terraform {
  # Ephemeral resources arrived in Terraform 1.10.
  required_version = ">= 1.10"

  required_providers {
    mke = { source = "mke/mke" }
  }
}
