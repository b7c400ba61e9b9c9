output "queue_url" {
  description = "The operator's --events-queue-url (chart value settings.eventsQueueUrl)."
  value       = local.central ? aws_sqs_queue.events[0].id : null
}

output "queue_arn" {
  value = local.central ? aws_sqs_queue.events[0].arn : null
}

output "dead_letter_queue_url" {
  description = "Events EventBridge could not deliver, and messages received five times but never deleted."
  value       = local.central ? aws_sqs_queue.dead_letter[0].id : null
}

output "operator_policy_arn" {
  value = local.central ? aws_iam_policy.consumer[0].arn : null
}
