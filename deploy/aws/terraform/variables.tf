variable "queue_name" {
  description = "The queue's name (the dead-letter queue is <name>-dlq); one queue per operator shard."
  type        = string
  default     = "ecr-operator-events"
}

variable "message_retention_seconds" {
  description = "How long an event waits for the operator (a restart passes over every resource anyway)."
  type        = number
  default     = 86400
}

variable "operator_role_name" {
  description = "The IAM role the operator runs as (IRSA or EKS Pod Identity): the consumer policy is attached to it. Null: attach the operator_policy_arn output yourself."
  type        = string
  default     = null
}

variable "source_account_ids" {
  description = "Accounts whose forwarder role (<queue_name>-forwarder, this module with target_queue_arn set) may send their events to this queue."
  type        = list(string)
  default     = []
}

variable "target_queue_arn" {
  description = "Forwarder mode: the central queue's ARN (same region, another account); only the rules and their role are made."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource made here."
  type        = map(string)
  default     = {}
}
