# Who may do what with the secrets and the backups.
#
# HumanDeveloperRole  list and describe secrets; read a value only in an MFA session.
# BreakGlassRole      emergencies and recovery: assumable only with a fresh MFA, one hour, every
#                     assumption alerted (alerts.tf); reads and sets secrets, reads backups.
# AgentRole           the serving app: GetSecretValue on the five named secret ARNs, nothing else.
# BackupWriterRole    pushes to main (GitHub OIDC) and the Prefect worker: write backup sets
#                     (encrypting needs only the age public key; it never holds the private one);
#                     on the database host, pgBackRest's WAL archiving and base backups (reads
#                     the pgBackRest passphrase).
# RecoveryDrillRole   the Prefect worker's weekly DR drill: read backup sets, the age identity
#                     and the pgBackRest passphrase.
# ReplicationRole     S3 itself: copy the primary bucket to the secondary region.

locals {
  app_secret_arns      = [for secret in aws_secretsmanager_secret.app : secret.arn]
  recovery_secret_arns = [for secret in aws_secretsmanager_secret.recovery : secret.arn]
  backup_secret_arns   = [for secret in aws_secretsmanager_secret.backup : secret.arn]
  backup_bucket_arns   = [aws_s3_bucket.backups_primary.arn, aws_s3_bucket.backups_secondary.arn]
  backup_object_arns   = [for arn in local.backup_bucket_arns : "${arn}/*"]
}

# --- HumanDeveloperRole ---------------------------------------------------------------------------

resource "aws_iam_role" "human_developer" {
  name                 = "HumanDeveloperRole"
  description          = "Developers: list/describe secrets; values only with MFA"
  assume_role_policy   = data.aws_iam_policy_document.human_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "human_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.human_principal_arns
    }
  }
}

resource "aws_iam_role_policy" "human_developer" {
  name   = "secrets-list-describe-mfa-read"
  role   = aws_iam_role.human_developer.id
  policy = data.aws_iam_policy_document.human_developer.json
}

data "aws_iam_policy_document" "human_developer" {
  statement {
    sid = "ListSecrets"
    actions   = ["secretsmanager:ListSecrets"]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeTheClinicSecrets"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds", "secretsmanager:GetResourcePolicy"]
    resources = concat(local.app_secret_arns, local.recovery_secret_arns, local.backup_secret_arns)
  }

  statement {
    sid       = "ReadValuesOnlyWithMfa"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secret_arns
    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
  }

  statement {
    sid       = "NeverReadValuesWithoutMfa"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"]
    condition {
      test     = "BoolIfExists"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DescribeTheSecretsKey"
    actions   = ["kms:DescribeKey", "kms:GetKeyRotationStatus"]
    resources = [aws_kms_key.secrets.arn]
  }
}

# --- BreakGlassRole -------------------------------------------------------------------------------

resource "aws_iam_role" "break_glass" {
  name                 = "BreakGlassRole"
  description          = "Emergencies and recovery only; MFA to assume; every use alerted"
  assume_role_policy   = data.aws_iam_policy_document.break_glass_trust.json
  max_session_duration = 3600
  tags = {
    break-glass = "true"
  }
}

data "aws_iam_policy_document" "break_glass_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.human_principal_arns
    }
    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "aws:MultiFactorAuthAge"
      values   = ["900"]
    }
  }
}

resource "aws_iam_role_policy" "break_glass" {
  name   = "recover-secrets-and-backups"
  role   = aws_iam_role.break_glass.id
  policy = data.aws_iam_policy_document.break_glass.json
}

data "aws_iam_policy_document" "break_glass" {
  statement {
    sid = "ReadAndSetTheClinicSecrets"
    actions = [
      "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
      "secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds",
    ]
    resources = concat(local.app_secret_arns, local.recovery_secret_arns, local.backup_secret_arns)
  }

  statement {
    sid       = "DescribeTheSecretsKey"
    actions   = ["kms:DescribeKey", "kms:GetKeyRotationStatus"]
    resources = [aws_kms_key.secrets.arn]
  }

  statement {
    sid       = "ListBackups"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = concat(local.backup_bucket_arns, [aws_s3_bucket.cloudtrail.arn])
  }

  statement {
    sid       = "ReadBackupsAndAuditLogs"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = concat(local.backup_object_arns, ["${aws_s3_bucket.cloudtrail.arn}/*"])
  }
}

# --- AgentRole ------------------------------------------------------------------------------------

resource "aws_iam_role" "agent" {
  name                 = "AgentRole"
  description          = "The serving app: reads its five named secrets, nothing else"
  assume_role_policy   = data.aws_iam_policy_document.agent_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "agent_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.agent_principal_arns
    }
  }
}

resource "aws_iam_role_policy" "agent" {
  name   = "read-named-secrets"
  role   = aws_iam_role.agent.id
  policy = data.aws_iam_policy_document.agent.json
}

data "aws_iam_policy_document" "agent" {
  statement {
    sid       = "ReadTheNamedSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secret_arns
  }
}

# --- BackupWriterRole (GitHub Actions OIDC and the Prefect worker) ----------------------------

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's published intermediate thumbprints; AWS validates this issuer against its own CA
  # store as well, the list only satisfies the API.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]
}

resource "aws_iam_role" "backup_writer" {
  name                 = "BackupWriterRole"
  description          = "Writes backup sets: pushes to main (GitHub OIDC) and the Prefect worker"
  assume_role_policy   = data.aws_iam_policy_document.backup_writer_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "backup_writer_trust" {
  # The workflow's job runs in the GitHub environment `backup`, whose deployment branch rule
  # admits main only; the token's subject names that environment.
  statement {
    sid     = "PushesToMain"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:backup"]
    }
  }

  dynamic "statement" {
    for_each = length(var.backup_runner_principal_arns) > 0 ? [1] : []
    content {
      sid     = "ScheduledBackups"
      actions = ["sts:AssumeRole"]
      principals {
        type        = "AWS"
        identifiers = var.backup_runner_principal_arns
      }
    }
  }
}

resource "aws_iam_role_policy" "backup_writer" {
  name   = "write-backup-sets"
  role   = aws_iam_role.backup_writer.id
  policy = data.aws_iam_policy_document.backup_writer.json
}

data "aws_iam_policy_document" "backup_writer" {
  statement {
    sid       = "ListBackupSets"
    actions   = ["s3:ListBucket"]
    resources = local.backup_bucket_arns
  }

  # Write, read back to verify, and prune by policy (a delete only adds a delete marker: object
  # lock keeps every version for backup_lock_days, lifecycle removes them after 7 years).
  statement {
    sid       = "WriteVerifyAndPruneBackupSets"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = local.backup_object_arns
  }

  # pgBackRest on the database host: WAL archiving and base backups are encrypted with it.
  statement {
    sid       = "ReadThePgBackRestPassphrase"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.backup_secret_arns
  }
}

# --- RecoveryDrillRole (the weekly DR drill restores into a scratch environment) -------------

resource "aws_iam_role" "recovery_drill" {
  name                 = "RecoveryDrillRole"
  description          = "The weekly DR drill: reads backup sets and the backup decryption key"
  assume_role_policy   = data.aws_iam_policy_document.recovery_drill_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "recovery_drill_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type = "AWS"
      # Without a runner listed, the account: only principals whose own IAM policy grants
      # sts:AssumeRole on this role may assume it.
      identifiers = length(var.backup_runner_principal_arns) > 0 ? var.backup_runner_principal_arns : [local.root_arn]
    }
  }
}

resource "aws_iam_role_policy" "recovery_drill" {
  name   = "read-backups-and-their-key"
  role   = aws_iam_role.recovery_drill.id
  policy = data.aws_iam_policy_document.recovery_drill.json
}

data "aws_iam_policy_document" "recovery_drill" {
  statement {
    sid       = "ReadTheBackupKeyAndThePgBackRestPassphrase"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat(local.recovery_secret_arns, local.backup_secret_arns)
  }

  statement {
    sid       = "ListBackupSets"
    actions   = ["s3:ListBucket"]
    resources = local.backup_bucket_arns
  }

  statement {
    sid       = "ReadBackupSets"
    actions   = ["s3:GetObject"]
    resources = local.backup_object_arns
  }
}

# --- ReplicationRole (S3 cross-region replication) ----------------------------------------------

resource "aws_iam_role" "replication" {
  name               = "BackupReplicationRole"
  description        = "S3 replicates the primary backup bucket to the secondary region"
  assume_role_policy = data.aws_iam_policy_document.replication_trust.json
}

data "aws_iam_policy_document" "replication_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role_policy" "replication" {
  name   = "replicate-backups"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}

data "aws_iam_policy_document" "replication" {
  statement {
    sid       = "ReadTheSourceConfiguration"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket", "s3:GetObjectRetention", "s3:GetObjectLegalHold"]
    resources = [aws_s3_bucket.backups_primary.arn]
  }

  statement {
    sid = "ReadSourceVersions"
    actions = [
      "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
      "s3:GetObjectVersionTagging", "s3:GetObjectRetention", "s3:GetObjectLegalHold",
    ]
    resources = ["${aws_s3_bucket.backups_primary.arn}/*"]
  }

  statement {
    sid       = "WriteReplicas"
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"]
    resources = ["${aws_s3_bucket.backups_secondary.arn}/*"]
  }

  statement {
    sid       = "DecryptSourceObjects"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.backups_primary.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.primary_region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptReplicas"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.backups_secondary.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.secondary_region}.amazonaws.com"]
    }
  }
}
