# Not part of the documented snippet: the configuration `terraform query` runs in.
terraform {
  # List resources and `terraform query` arrived in Terraform 1.14.
  required_version = ">= 1.14"

  required_providers {
    mke = { source = "mke/mke" }
  }
}

provider "mke" {}
