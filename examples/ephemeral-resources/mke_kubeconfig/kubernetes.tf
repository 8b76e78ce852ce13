# Not part of the documented snippet: something for the kubernetes provider to manage.
terraform {
  required_providers {
    kubernetes = { source = "hashicorp/kubernetes" }
  }
}

resource "kubernetes_namespace" "apps" {
  metadata {
    name = "apps"
  }
}
