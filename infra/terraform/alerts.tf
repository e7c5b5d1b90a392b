# Security alerts: every assumption of the BreakGlassRole, and any read of a secret value by a
# principal other than the AgentRole, goes to an encrypted SNS topic (and to alert_email).

resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-security-alerts"
  kms_master_key_id = aws_kms_key.audit.arn
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

data "aws_iam_policy_document" "alerts_topic" {
  statement {
    sid     = "EventBridgeAndCloudTrailPublish"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudtrail.amazonaws.com"]
    }
    resources = [aws_sns_topic.alerts.arn]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_subscription" "alert_email" {
  count     = var.alert_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

resource "aws_cloudwatch_event_rule" "break_glass_used" {
  name        = "${var.name_prefix}-break-glass-used"
  description = "Someone assumed BreakGlassRole"
  event_pattern = jsonencode({
    source        = ["aws.sts"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource       = ["sts.amazonaws.com"]
      eventName         = ["AssumeRole"]
      requestParameters = { roleArn = [aws_iam_role.break_glass.arn] }
    }
  })
}

resource "aws_cloudwatch_event_target" "break_glass_used" {
  rule = aws_cloudwatch_event_rule.break_glass_used.name
  arn  = aws_sns_topic.alerts.arn
}

resource "aws_cloudwatch_event_rule" "secret_read_by_a_human" {
  name        = "${var.name_prefix}-secret-value-read-by-a-human"
  description = "A secret value was read by a principal other than AgentRole"
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["secretsmanager.amazonaws.com"]
      eventName   = ["GetSecretValue"]
      userIdentity = {
        sessionContext = {
          sessionIssuer = { arn = [{ "anything-but" = aws_iam_role.agent.arn }] }
        }
      }
    }
  })
}

resource "aws_cloudwatch_event_target" "secret_read_by_a_human" {
  rule = aws_cloudwatch_event_rule.secret_read_by_a_human.name
  arn  = aws_sns_topic.alerts.arn
}
