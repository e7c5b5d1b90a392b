variable "environment" {
  description = "Environment name; also the Secrets Manager name prefix (AWS_SECRETS_PREFIX)."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment: lower-case letters, digits and dashes, 2-16 characters."
  }
}

variable "primary_region" {
  description = "Region of the app, the secrets, the primary backup bucket and CloudTrail."
  type        = string
  default     = "eu-central-1"
}

variable "secondary_region" {
  description = "Region of the replicated backup bucket; must differ from primary_region."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of globally unique names (buckets); e.g. the clinic's short name."
  type        = string
  default     = "dental-clinic"
}

variable "human_principal_arns" {
  description = "IAM users or SSO roles allowed to assume HumanDeveloperRole and BreakGlassRole."
  type        = list(string)
}

variable "agent_principal_arns" {
  description = "Principals (e.g. the serving task's execution role) allowed to assume AgentRole."
  type        = list(string)
}

variable "github_repository" {
  description = "owner/name of the repository whose pushes to main may write backups (OIDC)."
  type        = string
}

variable "backup_lock_mode" {
  description = "S3 Object Lock default retention mode of the backup buckets."
  type        = string
  default     = "COMPLIANCE"

  validation {
    condition     = contains(["COMPLIANCE", "GOVERNANCE"], var.backup_lock_mode)
    error_message = "backup_lock_mode: COMPLIANCE or GOVERNANCE."
  }
}

variable "backup_lock_days" {
  description = "Days each backup object version cannot be deleted or overwritten."
  type        = number
  default     = 35
}

variable "backup_archive_after_days" {
  description = "Days in S3 Standard before backups move to Glacier."
  type        = number
  default     = 90
}

variable "backup_expire_after_days" {
  description = "Days after which backups are deleted (7 years)."
  type        = number
  default     = 2555
}

variable "audit_log_retention_days" {
  description = "Days CloudTrail logs are kept in S3 and CloudWatch Logs."
  type        = number
  default     = 2555
}

variable "alert_email" {
  description = "Address that receives break-glass and security alerts (empty: no subscription)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "backup_runner_principal_arns" {
  description = "Principals besides GitHub Actions that run `dental backup create` (the Prefect worker's role)."
  type        = list(string)
  default     = []
}
