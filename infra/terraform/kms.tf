# Customer-managed keys. Each key policy gives the account root key administration only (no
# kms:Decrypt / kms:Encrypt), and lets named roles use the key solely through the AWS service it
# exists for (kms:ViaService), so a leaked role credential cannot decrypt a blob directly.

locals {
  key_admin_actions = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
  ]
}

# --- secrets: alias/dental-clinic-secrets ----------------------------------------------------------

resource "aws_kms_key" "secrets" {
  description             = "dental-clinic-ai: Secrets Manager secrets"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.secrets_key.json
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/dental-clinic-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

data "aws_iam_policy_document" "secrets_key" {
  #checkov:skip=CKV_AWS_111:key policy: "*" is this key; writes are key administration by root only
  #checkov:skip=CKV_AWS_356:key policy: "*" is the key the policy is attached to
  statement {
    sid = "KeyAdministrationByTheAccount"
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
    actions   = local.key_admin_actions
    resources = ["*"]
  }

  statement {
    sid = "DecryptSecretsOnlyThroughSecretsManager"
    principals {
      type = "AWS"
      identifiers = [
        aws_iam_role.agent.arn, aws_iam_role.human_developer.arn, aws_iam_role.break_glass.arn,
        aws_iam_role.recovery_drill.arn,
      ]
    }
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.primary_region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid = "SetSecretValuesOnlyThroughSecretsManager"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.break_glass.arn]
    }
    actions   = ["kms:GenerateDataKey", "kms:Encrypt"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.primary_region}.amazonaws.com"]
    }
  }

  statement {
    sid = "DescribeForTheSecretsCheck"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.human_developer.arn, aws_iam_role.break_glass.arn]
    }
    actions   = ["kms:DescribeKey", "kms:GetKeyRotationStatus"]
    resources = ["*"]
  }
}

# --- backups: alias/dental-clinic-backups, one key per region ---------------------------------------

resource "aws_kms_key" "backups_primary" {
  description             = "dental-clinic-ai: backup sets, primary region"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.backups_key_primary.json
}

resource "aws_kms_alias" "backups_primary" {
  name          = "alias/dental-clinic-backups"
  target_key_id = aws_kms_key.backups_primary.key_id
}

resource "aws_kms_key" "backups_secondary" {
  provider                = aws.secondary
  description             = "dental-clinic-ai: backup sets, secondary region (replica bucket)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.backups_key_secondary.json
}

resource "aws_kms_alias" "backups_secondary" {
  provider      = aws.secondary
  name          = "alias/dental-clinic-backups"
  target_key_id = aws_kms_key.backups_secondary.key_id
}

data "aws_iam_policy_document" "backups_key_primary" {
  #checkov:skip=CKV_AWS_111:key policy: "*" is this key; writes are key administration by root only
  #checkov:skip=CKV_AWS_356:key policy: "*" is the key the policy is attached to
  statement {
    sid = "KeyAdministrationByTheAccount"
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
    actions   = local.key_admin_actions
    resources = ["*"]
  }

  statement {
    sid = "UseOnlyThroughS3"
    principals {
      type = "AWS"
      identifiers = [
        aws_iam_role.backup_writer.arn, aws_iam_role.replication.arn, aws_iam_role.break_glass.arn,
        aws_iam_role.recovery_drill.arn,
      ]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.primary_region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "backups_key_secondary" {
  #checkov:skip=CKV_AWS_111:key policy: "*" is this key; writes are key administration by root only
  #checkov:skip=CKV_AWS_356:key policy: "*" is the key the policy is attached to
  statement {
    sid = "KeyAdministrationByTheAccount"
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
    actions   = local.key_admin_actions
    resources = ["*"]
  }

  statement {
    sid = "UseOnlyThroughS3"
    principals {
      type = "AWS"
      identifiers = [
        aws_iam_role.backup_writer.arn, aws_iam_role.replication.arn, aws_iam_role.break_glass.arn,
        aws_iam_role.recovery_drill.arn,
      ]
    }
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.secondary_region}.amazonaws.com"]
    }
  }
}

# --- audit: alias/dental-clinic-audit (CloudTrail, its log group, the alert topic) ------------------

resource "aws_kms_key" "audit" {
  description             = "dental-clinic-ai: CloudTrail logs, audit log group, alert topic"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.audit_key.json
}

resource "aws_kms_alias" "audit" {
  name          = "alias/dental-clinic-audit"
  target_key_id = aws_kms_key.audit.key_id
}

data "aws_iam_policy_document" "audit_key" {
  #checkov:skip=CKV_AWS_111:key policy: "*" is this key; services write only under the conditions
  #checkov:skip=CKV_AWS_356:key policy: "*" is the key the policy is attached to
  statement {
    sid = "KeyAdministrationByTheAccount"
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
    actions   = local.key_admin_actions
    resources = ["*"]
  }

  statement {
    sid = "CloudTrailEncryptsItsLogs"
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    actions   = ["kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsTheAuditLogGroup"
    principals {
      type        = "Service"
      identifiers = ["logs.${var.primary_region}.amazonaws.com"]
    }
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.primary_region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid = "EventBridgePublishesAlerts"
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${var.primary_region}.amazonaws.com"]
    }
  }

  statement {
    sid = "AuditorsReadTheLogs"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.break_glass.arn]
    }
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.primary_region}.amazonaws.com", "logs.${var.primary_region}.amazonaws.com"]
    }
  }
}
