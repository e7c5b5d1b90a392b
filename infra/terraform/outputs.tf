output "secrets_kms_key_arn" {
  description = "The CMK the secrets are encrypted with (alias/dental-clinic-secrets)."
  value       = aws_kms_key.secrets.arn
}

output "secret_arns" {
  description = "Secret name -> ARN; values are set out of band."
  value       = { for key, secret in merge(aws_secretsmanager_secret.app, aws_secretsmanager_secret.recovery) : secret.name => secret.arn }
}

output "agent_role_arn" {
  description = "AgentRole: the serving app's role."
  value       = aws_iam_role.agent.arn
}

output "human_developer_role_arn" {
  description = "HumanDeveloperRole."
  value       = aws_iam_role.human_developer.arn
}

output "break_glass_role_arn" {
  description = "BreakGlassRole (MFA, alerted)."
  value       = aws_iam_role.break_glass.arn
}

output "backup_writer_role_arn" {
  description = "BackupWriterRole: the AWS_ROLE_ARN secret of the backup workflow."
  value       = aws_iam_role.backup_writer.arn
}

output "backup_primary_bucket" {
  description = "BACKUP_BUCKET."
  value       = aws_s3_bucket.backups_primary.id
}

output "backup_secondary_bucket" {
  description = "BACKUP_SECONDARY_BUCKET (in secondary_region: BACKUP_SECONDARY_REGION)."
  value       = aws_s3_bucket.backups_secondary.id
}

output "cloudtrail_bucket" {
  description = "Where the audit trail is kept."
  value       = aws_s3_bucket.cloudtrail.id
}

output "security_alerts_topic_arn" {
  description = "SNS topic of break-glass and secret-read alerts."
  value       = aws_sns_topic.alerts.arn
}

output "recovery_drill_role_arn" {
  description = "RecoveryDrillRole: the Prefect worker's weekly DR drill."
  value       = aws_iam_role.recovery_drill.arn
}
