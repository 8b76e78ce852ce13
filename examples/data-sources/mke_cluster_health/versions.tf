# Not part of the documented snippet: makes this directory a valid configuration.
terraform {
  # `check` blocks with scoped data sources arrived in Terraform 1.5.
  required_version = ">= 1.5"

  required_providers {
    mke = { source = "mke/mke" }
  }
}
