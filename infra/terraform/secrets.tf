# The secrets exist here, encrypted with the CMK; their values never pass through Terraform (or
# its state). Set them out of band with `aws secretsmanager put-secret-value` under the
# BreakGlassRole (README.md, "Setting secret values"); `dental secrets check` verifies the result.

resource "aws_secretsmanager_secret" "app" {
  for_each = local.app_secrets
  #checkov:skip=CKV2_AWS_57:third-party credentials (OpenAI, Telegram, Odoo) are rotated at their provider and re-put by the runbook; no rotation Lambda can rotate them

  name                    = "${var.environment}/${each.key}"
  description             = "dental-clinic-ai ${each.key}; value set out of band"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret" "recovery" {
  for_each = local.recovery_secrets
  #checkov:skip=CKV2_AWS_57:the age identity must keep decrypting old backup sets; rotating it is a planned key change, not an automatic one

  name                    = "${var.environment}/${each.key}"
  description             = "dental-clinic-ai ${each.key} (restore only); value set out of band"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret" "backup" {
  for_each = local.backup_secrets
  #checkov:skip=CKV2_AWS_57:the passphrase must keep opening the pgBackRest repository's older backups and WAL; changing it is a planned re-key (new stanza), not an automatic rotation

  name                    = "${var.environment}/${each.key}"
  description             = "dental-clinic-ai ${each.key} (database host and restore only); value set out of band"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
}

# Only the named roles may read values, whatever identity policies elsewhere in the account say.
resource "aws_secretsmanager_secret_policy" "app" {
  for_each = aws_secretsmanager_secret.app

  secret_arn = each.value.arn
  policy     = data.aws_iam_policy_document.secret_readers[each.key].json
}

resource "aws_secretsmanager_secret_policy" "recovery" {
  for_each = aws_secretsmanager_secret.recovery

  secret_arn = each.value.arn
  policy     = data.aws_iam_policy_document.recovery_secret_readers.json
}

resource "aws_secretsmanager_secret_policy" "backup" {
  for_each = aws_secretsmanager_secret.backup

  secret_arn = each.value.arn
  policy     = data.aws_iam_policy_document.backup_secret_readers.json
}

data "aws_iam_policy_document" "secret_readers" {
  for_each = local.app_secrets

  statement {
    sid     = "OnlyTheAgentAndHumansWithMfaReadValues"
    effect  = "Deny"
    actions = ["secretsmanager:GetSecretValue"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    resources = ["*"]
    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values = [
        aws_iam_role.agent.arn, aws_iam_role.human_developer.arn, aws_iam_role.break_glass.arn,
      ]
    }
  }
}

data "aws_iam_policy_document" "recovery_secret_readers" {
  statement {
    sid     = "OnlyBreakGlassAndTheDrillReadTheBackupKey"
    effect  = "Deny"
    actions = ["secretsmanager:GetSecretValue"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    resources = ["*"]
    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.break_glass.arn, aws_iam_role.recovery_drill.arn]
    }
  }
}

data "aws_iam_policy_document" "backup_secret_readers" {
  statement {
    sid     = "OnlyTheBackupWriterTheDrillAndBreakGlassReadThePassphrase"
    effect  = "Deny"
    actions = ["secretsmanager:GetSecretValue"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    resources = ["*"]
    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values = [
        aws_iam_role.backup_writer.arn, aws_iam_role.recovery_drill.arn, aws_iam_role.break_glass.arn,
      ]
    }
  }
}
