# ecr-operator events: an SQS queue (SSE, a dead-letter queue) that EventBridge fills with ECR's own events and
# CloudTrail's records of ECR and KMS management calls, and the operator's permission to read it
# (--events-queue-url, docs/events.md). With target_queue_arn set (another account of the same region) it makes
# only the rules and the role that forward that account's events to the central queue. The same resources as
# ../cloudformation/events-queue.yaml; the event patterns and the consumer's actions are read from ../patterns and
# ../iam-events-queue-policy.json.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  central = var.target_queue_arn == null
  patterns = {
    ecr-events    = file("${path.module}/../patterns/ecr-events.json")
    ecr-api-calls = file("${path.module}/../patterns/ecr-api-calls.json")
    kms-api-calls = file("${path.module}/../patterns/kms-api-calls.json")
  }
  consumer_actions = jsondecode(file("${path.module}/../iam-events-queue-policy.json")).Statement[0].Action
  queue_arn        = local.central ? aws_sqs_queue.events[0].arn : var.target_queue_arn
}

resource "aws_sqs_queue" "dead_letter" {
  count                     = local.central ? 1 : 0
  name                      = "${var.queue_name}-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  count                     = local.central ? 1 : 0
  name                      = var.queue_name
  sqs_managed_sse_enabled   = true
  message_retention_seconds = var.message_retention_seconds
  # The operator deletes a message once its pass is queued; one it never deletes (a crash mid-batch) is received
  # again after a minute, and after five receives goes to the dead-letter queue.
  visibility_timeout_seconds = 60
  receive_wait_time_seconds  = 20
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter[0].arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

data "aws_iam_policy_document" "queue" {
  count = local.central ? 1 : 0

  statement {
    sid       = "EventBridgeRulesSendEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events[0].arn, aws_sqs_queue.dead_letter[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.events : rule.arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.source_account_ids) > 0 ? [1] : []
    content {
      sid       = "ForwardersOfMappedAccountsSendEvents"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.events[0].arn]
      principals {
        type        = "AWS"
        identifiers = ["*"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalAccount"
        values   = var.source_account_ids
      }
      condition {
        test     = "ArnLike"
        variable = "aws:PrincipalArn"
        values   = ["arn:${data.aws_partition.current.partition}:iam::*:role/${var.queue_name}-forwarder"]
      }
    }
  }

  statement {
    sid       = "OnlyTls"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.events[0].arn, aws_sqs_queue.dead_letter[0].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  count     = local.central ? 1 : 0
  queue_url = aws_sqs_queue.events[0].id
  policy    = data.aws_iam_policy_document.queue[0].json
}

resource "aws_sqs_queue_policy" "dead_letter" {
  count     = local.central ? 1 : 0
  queue_url = aws_sqs_queue.dead_letter[0].id
  policy    = data.aws_iam_policy_document.queue[0].json
}

resource "aws_cloudwatch_event_rule" "events" {
  for_each      = local.patterns
  name          = "${var.queue_name}-${each.key}"
  description   = "ecr-operator: ${each.key}"
  event_pattern = each.value
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "events" {
  for_each  = local.patterns
  rule      = aws_cloudwatch_event_rule.events[each.key].name
  target_id = "events-queue"
  arn       = local.queue_arn
  role_arn  = local.central ? null : aws_iam_role.forwarder[0].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }

  dynamic "dead_letter_config" {
    for_each = local.central ? [1] : []
    content {
      arn = aws_sqs_queue.dead_letter[0].arn
    }
  }
}

# The operator's extra permissions (../iam-events-queue-policy.json, for this queue).
resource "aws_iam_policy" "consumer" {
  count       = local.central ? 1 : 0
  name        = "${var.queue_name}-consumer"
  description = "ecr-operator reads and deletes the messages of its events queue"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ConsumeEventsQueue"
      Effect   = "Allow"
      Action   = local.consumer_actions
      Resource = aws_sqs_queue.events[0].arn
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "consumer" {
  count      = local.central && var.operator_role_name != null ? 1 : 0
  role       = var.operator_role_name
  policy_arn = aws_iam_policy.consumer[0].arn
}

resource "aws_iam_role" "forwarder" {
  count       = local.central ? 0 : 1
  name        = "${var.queue_name}-forwarder"
  description = "EventBridge sends this account's ECR and KMS events to ecr-operator's central queue"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "forwarder" {
  count = local.central ? 0 : 1
  name  = "send-to-events-queue"
  role  = aws_iam_role.forwarder[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sqs:SendMessage", Resource = var.target_queue_arn }]
  })
}
