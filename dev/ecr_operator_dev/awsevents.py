"""The events AWS would send, made in the harness: moto has EventBridge (rules, SQS targets) and SQS, but no service
emits events into it.

* :func:`deploy_events_stack` deploys ``deploy/aws/cloudformation/events-queue.yaml`` (the shipped template) into
  moto: the queue, its dead-letter queue and the EventBridge rules, as a platform team would in AWS.
* :class:`EventEmitter` puts, on moto's default bus, what AWS puts there after a successful write: a CloudTrail
  record (``AWS API Call via CloudTrail``) of every ECR and KMS management call, ``ECR Image Action`` for
  ``PutImage`` and ``BatchDeleteImage``, ``ECR Image Scan`` when a scan finishes (moto finishes one at
  ``StartImageScan``). The shapes are those of AWS's published samples (``tests/data/events/``); the rules then
  decide, as in AWS, what reaches the queue. :class:`~ecr_operator_dev.AwsProxy` calls it (``emit_events``).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

__all__ = ["MOTO_ACCOUNT", "TEMPLATE", "EventEmitter", "EventsStack", "deploy_events_stack"]

REPO_ROOT = Path(__file__).resolve().parents[2]  # dev/ecr_operator_dev/awsevents.py
TEMPLATE = REPO_ROOT / "deploy" / "aws" / "cloudformation" / "events-queue.yaml"
MOTO_ACCOUNT = "123456789012"
"""The account moto puts everything made with plain credentials in."""
API_CALL = "AWS API Call via CloudTrail"


def _client(service: str, endpoint_url: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass(frozen=True)
class EventsStack:
    region: str
    queue_url: str
    dead_letter_url: str
    outputs: dict[str, str]


def deploy_events_stack(
    endpoint_url: str,
    region: str,
    *,
    stack_name: str = "ecr-operator-events",
    queue_name: str = "ecr-operator-events",
    operator_role_name: str = "",
) -> EventsStack:
    """The shipped CloudFormation template deployed into moto (``CREATE_COMPLETE``, else RuntimeError)."""
    cloudformation = _client("cloudformation", endpoint_url, region)
    parameters = [{"ParameterKey": "QueueName", "ParameterValue": queue_name}]
    if operator_role_name:
        parameters.append({"ParameterKey": "OperatorRoleName", "ParameterValue": operator_role_name})
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=parameters,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return EventsStack(region, outputs["QueueUrl"], outputs["DeadLetterQueueUrl"], outputs)


class EventEmitter:
    """Puts the events of one successful write on moto's default bus of the write's region."""

    def __init__(self, endpoint_url: str, account: str = MOTO_ACCOUNT) -> None:
        self.endpoint_url = endpoint_url
        self.account = account
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            client = self._clients.get((service, region))
            if client is None:
                client = self._clients[(service, region)] = _client(service, self.endpoint_url, region)
            return client

    def write(
        self,
        service: str,
        operation: str,
        region: str,
        access_key: str,
        request: dict[str, Any],
        response: dict[str, Any],
    ) -> None:
        """The events AWS sends after ``operation`` succeeded for the caller of ``access_key``."""
        now = datetime.now(UTC)
        entries = [self._api_call(service, operation, region, access_key, request, now)]
        if service == "ecr":
            entries += self._ecr_events(operation, region, request, response)
        self.put(region, entries, now)

    def put(self, region: str, entries: list[tuple[str, str, dict[str, Any], list[str]]], now: datetime) -> None:
        """(source, detail-type, detail, resources) entries on the default bus, 10 a call."""
        events = self.client("events", region)
        for start in range(0, len(entries), 10):
            batch = entries[start : start + 10]
            events.put_events(
                Entries=[
                    {
                        "Source": source,
                        "DetailType": kind,
                        "Detail": json.dumps(detail),
                        "Resources": resources,
                        "Time": now,
                    }
                    for source, kind, detail, resources in batch
                ]
            )

    def _api_call(
        self, service: str, operation: str, region: str, access_key: str, request: dict[str, Any], now: datetime
    ) -> tuple[str, str, dict[str, Any], list[str]]:
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        user = f"console-{access_key}"
        detail: dict[str, Any] = {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": access_key,
                "arn": f"arn:aws:iam::{self.account}:user/{user}",
                "accountId": self.account,
                "accessKeyId": access_key,
                "userName": user,
            },
            "eventTime": stamp,
            "eventSource": f"{service}.amazonaws.com",
            "eventName": operation,
            "awsRegion": region,
            "sourceIPAddress": "127.0.0.1",
            "userAgent": "ecr-operator-dev",
            "requestParameters": request,
            "responseElements": None,
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        }
        if service == "kms":
            key = request.get("KeyId") or request.get("TargetKeyId")
            if isinstance(key, str) and key:
                arn = key if key.startswith("arn:") else f"arn:aws:kms:{region}:{self.account}:key/{key}"
                detail["resources"] = [{"accountId": self.account, "type": "AWS::KMS::Key", "ARN": arn}]
            # CloudTrail spells KMS request parameters in camelCase (keyId, aliasName, targetKeyId).
            detail["requestParameters"] = {name[:1].lower() + name[1:]: value for name, value in request.items()}
        return (f"aws.{service}", API_CALL, detail, [])

    def _ecr_events(
        self, operation: str, region: str, request: dict[str, Any], response: dict[str, Any]
    ) -> list[tuple[str, str, dict[str, Any], list[str]]]:
        name = str(request.get("repositoryName") or "")
        arn = f"arn:aws:ecr:{region}:{self.account}:repository/{name}"
        if operation == "PutImage":
            digest = ((response.get("image") or {}).get("imageId") or {}).get("imageDigest")
            detail = {
                "result": "SUCCESS",
                "repository-name": name,
                "image-digest": digest,
                "action-type": "PUSH",
                "image-tag": request.get("imageTag") or "",
            }
            return [("aws.ecr", "ECR Image Action", detail, [])]
        if operation == "BatchDeleteImage":
            return [
                (
                    "aws.ecr",
                    "ECR Image Action",
                    {
                        "result": "SUCCESS",
                        "repository-name": name,
                        "image-digest": image.get("imageDigest"),
                        "action-type": "DELETE",
                        "image-tag": image.get("imageTag") or "",
                    },
                    [],
                )
                for image in response.get("imageIds") or []
            ]
        if operation == "StartImageScan":
            digest = (response.get("imageId") or {}).get("imageDigest")
            return [("aws.ecr", "ECR Image Scan", self._scan(region, name, str(digest)), [arn])]
        return []

    def _scan(self, region: str, name: str, digest: str) -> dict[str, Any]:
        """moto finishes a scan at StartImageScan: its findings, as the event reports them."""
        ecr = self.client("ecr", region)
        found = ecr.describe_image_scan_findings(repositoryName=name, imageId={"imageDigest": digest})
        images = ecr.describe_images(repositoryName=name, imageIds=[{"imageDigest": digest}])["imageDetails"]
        status = (found.get("imageScanStatus") or {}).get("status", "COMPLETE")
        detail: dict[str, Any] = {
            "scan-status": status,
            "repository-name": name,
            "image-digest": digest,
            "image-tags": list(images[0].get("imageTags") or []) if images else [],
        }
        if status == "COMPLETE":
            detail["finding-severity-counts"] = dict(
                (found.get("imageScanFindings") or {}).get("findingSeverityCounts") or {}
            )
        return detail
