# Pinned exactly: a provider upgrade is a reviewed change (bump here, `terraform init -upgrade`,
# commit the regenerated .terraform.lock.hcl with its hashes).
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.82.2"
    }
  }

  # State holds ARNs, not secret values (no value is ever set through Terraform), but it is still
  # kept remote, encrypted and locked; fill the bucket and table in with `-backend-config`.
  backend "s3" {
    key     = "dental-clinic-ai/terraform.tfstate"
    encrypt = true
  }
}
