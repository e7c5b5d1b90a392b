# Server access log buckets, one per region (S3 delivers access logs only within a region and
# only into buckets encrypted with SSE-S3, not SSE-KMS).

resource "aws_s3_bucket" "access_logs_primary" {
  #checkov:skip=CKV_AWS_144:access logs stay in their region; the trail holds the audit record
  #checkov:skip=CKV_AWS_145:S3 server access logs can only be delivered to SSE-S3 buckets
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications on access logs
  bucket = "${var.name_prefix}-access-logs-${local.account_id}-${var.primary_region}"
}

resource "aws_s3_bucket" "access_logs_secondary" {
  #checkov:skip=CKV_AWS_144:access logs stay in their region; the trail holds the audit record
  #checkov:skip=CKV_AWS_145:S3 server access logs can only be delivered to SSE-S3 buckets
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications on access logs
  provider = aws.secondary
  bucket   = "${var.name_prefix}-access-logs-${local.account_id}-${var.secondary_region}"
}

resource "aws_s3_bucket_versioning" "access_logs_primary" {
  bucket = aws_s3_bucket.access_logs_primary.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "access_logs_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.access_logs_secondary.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs_primary" {
  bucket = aws_s3_bucket.access_logs_primary.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.access_logs_secondary.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs_primary" {
  bucket                  = aws_s3_bucket.access_logs_primary.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "access_logs_secondary" {
  provider                = aws.secondary
  bucket                  = aws_s3_bucket.access_logs_secondary.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs_primary" {
  bucket = aws_s3_bucket.access_logs_primary.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_ownership_controls" "access_logs_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.access_logs_secondary.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs_primary" {
  bucket = aws_s3_bucket.access_logs_primary.id
  rule {
    id     = "keep-access-logs-as-long-as-the-audit-trail"
    status = "Enabled"
    filter {}
    transition {
      days          = 90
      storage_class = "GLACIER"
    }
    expiration {
      days = var.audit_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.access_logs_secondary.id
  rule {
    id     = "keep-access-logs-as-long-as-the-audit-trail"
    status = "Enabled"
    filter {}
    transition {
      days          = 90
      storage_class = "GLACIER"
    }
    expiration {
      days = var.audit_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs_primary" {
  bucket     = aws_s3_bucket.access_logs_primary.id
  policy     = data.aws_iam_policy_document.access_logs_primary.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs_primary]
}

resource "aws_s3_bucket_policy" "access_logs_secondary" {
  provider   = aws.secondary
  bucket     = aws_s3_bucket.access_logs_secondary.id
  policy     = data.aws_iam_policy_document.access_logs_secondary.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs_secondary]
}

data "aws_iam_policy_document" "access_logs_primary" {
  statement {
    sid     = "S3DeliversAccessLogs"
    actions = ["s3:PutObject"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    resources = ["${aws_s3_bucket.access_logs_primary.arn}/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.backups_primary.arn, aws_s3_bucket.cloudtrail.arn]
    }
  }

  statement {
    sid     = "DenyWithoutTls"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.access_logs_primary.arn, "${aws_s3_bucket.access_logs_primary.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

data "aws_iam_policy_document" "access_logs_secondary" {
  statement {
    sid     = "S3DeliversAccessLogs"
    actions = ["s3:PutObject"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    resources = ["${aws_s3_bucket.access_logs_secondary.arn}/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.backups_secondary.arn]
    }
  }

  statement {
    sid     = "DenyWithoutTls"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.access_logs_secondary.arn, "${aws_s3_bucket.access_logs_secondary.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
