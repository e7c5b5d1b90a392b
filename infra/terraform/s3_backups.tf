# Backup buckets: the primary in primary_region, its replica in secondary_region.
#
# Both: versioned, object-locked (no version can be deleted or overwritten for backup_lock_days,
# not even by the account root in COMPLIANCE mode), SSE-KMS with the region's backups key, public
# access blocked, TLS only, access-logged, and kept Standard 0-90 days, Glacier until 7 years,
# then deleted. S3 replicates primary -> secondary; the backup flow also copies and verifies each
# set itself, because replication is asynchronous and checks no hashes.

locals {
  backup_bucket_names = {
    primary   = "${var.name_prefix}-backups-${local.account_id}-${var.primary_region}"
    secondary = "${var.name_prefix}-backups-${local.account_id}-${var.secondary_region}"
  }
}

# --- primary --------------------------------------------------------------------------------------

resource "aws_s3_bucket" "backups_primary" {
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications; the backup flow verifies each set after writing it
  bucket              = local.backup_bucket_names.primary
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "backups_primary" {
  bucket = aws_s3_bucket.backups_primary.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "backups_primary" {
  bucket = aws_s3_bucket.backups_primary.id
  rule {
    default_retention {
      mode = var.backup_lock_mode
      days = var.backup_lock_days
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups_primary" {
  bucket = aws_s3_bucket.backups_primary.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.backups_primary.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "backups_primary" {
  bucket                  = aws_s3_bucket.backups_primary.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "backups_primary" {
  bucket = aws_s3_bucket.backups_primary.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "backups_primary" {
  bucket        = aws_s3_bucket.backups_primary.id
  target_bucket = aws_s3_bucket.access_logs_primary.id
  target_prefix = "backups/"
}

resource "aws_s3_bucket_lifecycle_configuration" "backups_primary" {
  bucket = aws_s3_bucket.backups_primary.id

  rule {
    id     = "standard-90-days-glacier-7-years-then-delete"
    status = "Enabled"
    filter {}

    transition {
      days          = var.backup_archive_after_days
      storage_class = "GLACIER"
    }
    expiration {
      days = var.backup_expire_after_days
    }
    noncurrent_version_transition {
      noncurrent_days = var.backup_archive_after_days
      storage_class   = "GLACIER"
    }
    noncurrent_version_expiration {
      noncurrent_days = var.backup_expire_after_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "backups_primary" {
  bucket = aws_s3_bucket.backups_primary.id
  policy = data.aws_iam_policy_document.backups_primary_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.backups_primary]
}

data "aws_iam_policy_document" "backups_primary_bucket" {
  statement {
    sid     = "DenyWithoutTls"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.backups_primary.arn, "${aws_s3_bucket.backups_primary.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyUploadsNotUnderTheBackupsKey"
    effect  = "Deny"
    actions = ["s3:PutObject"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = ["${aws_s3_bucket.backups_primary.arn}/*"]
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.backups_primary.arn]
    }
  }
}

resource "aws_s3_bucket_replication_configuration" "backups" {
  bucket = aws_s3_bucket.backups_primary.id
  role   = aws_iam_role.replication.arn

  rule {
    id     = "all-backup-sets-to-the-secondary-region"
    status = "Enabled"
    filter {}

    delete_marker_replication {
      status = "Enabled"
    }
    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }
    destination {
      bucket        = aws_s3_bucket.backups_secondary.arn
      storage_class = "STANDARD"
      encryption_configuration {
        replica_kms_key_id = aws_kms_key.backups_secondary.arn
      }
      replication_time {
        status = "Enabled"
        time {
          minutes = 15
        }
      }
      metrics {
        status = "Enabled"
        event_threshold {
          minutes = 15
        }
      }
    }
  }

  depends_on = [
    aws_s3_bucket_versioning.backups_primary,
    aws_s3_bucket_versioning.backups_secondary,
  ]
}

# --- secondary ------------------------------------------------------------------------------------

resource "aws_s3_bucket" "backups_secondary" {
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications; restore verifies every hash against the manifest
  provider            = aws.secondary
  bucket              = local.backup_bucket_names.secondary
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "backups_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.backups_secondary.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "backups_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.backups_secondary.id
  rule {
    default_retention {
      mode = var.backup_lock_mode
      days = var.backup_lock_days
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.backups_secondary.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.backups_secondary.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "backups_secondary" {
  provider                = aws.secondary
  bucket                  = aws_s3_bucket.backups_secondary.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "backups_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.backups_secondary.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "backups_secondary" {
  provider      = aws.secondary
  bucket        = aws_s3_bucket.backups_secondary.id
  target_bucket = aws_s3_bucket.access_logs_secondary.id
  target_prefix = "backups/"
}

resource "aws_s3_bucket_lifecycle_configuration" "backups_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.backups_secondary.id

  rule {
    id     = "standard-90-days-glacier-7-years-then-delete"
    status = "Enabled"
    filter {}

    transition {
      days          = var.backup_archive_after_days
      storage_class = "GLACIER"
    }
    expiration {
      days = var.backup_expire_after_days
    }
    noncurrent_version_transition {
      noncurrent_days = var.backup_archive_after_days
      storage_class   = "GLACIER"
    }
    noncurrent_version_expiration {
      noncurrent_days = var.backup_expire_after_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "backups_secondary" {
  provider = aws.secondary
  bucket   = aws_s3_bucket.backups_secondary.id
  policy   = data.aws_iam_policy_document.backups_secondary_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.backups_secondary]
}

data "aws_iam_policy_document" "backups_secondary_bucket" {
  statement {
    sid     = "DenyWithoutTls"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.backups_secondary.arn, "${aws_s3_bucket.backups_secondary.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
