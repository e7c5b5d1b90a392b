provider "aws" {
  region = var.primary_region

  default_tags {
    tags = local.tags
  }
}

# The secondary region: the replica of the backups lives here, so a regional outage (or the loss
# of the primary bucket) leaves a complete copy.
provider "aws" {
  alias  = "secondary"
  region = var.secondary_region

  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"

  tags = merge(var.tags, {
    project     = "dental-clinic-ai"
    environment = var.environment
    managed-by  = "terraform"
  })

  # Exactly serving/secrets.py's lists, as <prefix>/<field-with-dashes>: SECRET_FIELDS here,
  # RECOVERY_SECRET_FIELDS below (tests/test_recovery_kit.py compares them). Values are never
  # set here: see README.md, "Setting secret values".
  app_secrets = toset([
    "openai-api-key",
    "telegram-bot-token",
    "telegram-webhook-secret",
    "jwt-secret",
    "neo4j-password",
    "odoo-api-key",
    "integration-key",
    "smtp-password",
    "twilio-auth-token",
  ])
  # Read by restore only (BreakGlassRole, RecoveryDrillRole), never by the serving agent.
  recovery_secrets = toset(["backup-age-identity"])
  # The pgBackRest repository passphrase (PostgreSQL point-in-time recovery, docs/BACKUP.md):
  # read where WAL is archived and base backups are taken (BackupWriterRole on the database
  # host), by the drill and in recovery; never by the serving agent.
  backup_secrets = toset(["backup-pgbackrest-passphrase"])
}
