# Not part of the documented snippet: makes this directory a valid configuration.
terraform {
  # Actions arrived in Terraform 1.14.
  required_version = ">= 1.14"

  required_providers {
    mke = { source = "mke/mke" }
  }
}
