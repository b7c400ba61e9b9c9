"""deploy/aws/: the CloudFormation template deploys in moto (both modes), its rules let through exactly the sample
events the operator acts on (moto's EventBridge pattern matching: put_events on the default bus, receive from the
queue), and the template, the Terraform module and the consumer policy agree on the patterns and the actions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import cfn_yaml

from ecr_operator.core.awsevents import Change, classify, parse
from ecr_operator_dev import MotoServer, deploy_events_stack
from ecr_operator_dev.awsevents import TEMPLATE

REPO_ROOT = Path(__file__).resolve().parents[2]
AWS_DIR = REPO_ROOT / "deploy" / "aws"
PATTERNS = {path.stem: json.loads(path.read_text()) for path in sorted((AWS_DIR / "patterns").glob("*.json"))}
CONSUMER_POLICY = json.loads((AWS_DIR / "iam-events-queue-policy.json").read_text())
SAMPLES = REPO_ROOT / "tests" / "data" / "events"
REGION = "ap-southeast-2"

DELIVERED = {
    "ecr-image-push",
    "ecr-image-push-failed",  # ECR's own events all go through; the operator drops failures
    "ecr-image-delete",
    "ecr-image-scan",
    "ecr-replication",
    "ecr-pull-through-cache",
    "cloudtrail-ecr-delete-lifecycle-policy",
    "cloudtrail-ecr-untag-resource",
    "cloudtrail-ecr-by-the-operator",  # the rule cannot know the operator's role; the operator skips it
    "cloudtrail-kms-disable-key-rotation",
    "cloudtrail-kms-delete-alias",
}
FILTERED = {
    "cloudtrail-ecr-put-image",  # pushes come as ECR Image Action; a busy registry's PutImage calls cost nothing
    "cloudtrail-ecr-describe-repositories",
    "cloudtrail-kms-schedule-key-deletion-denied",
    "ec2-state-change",
}


def template() -> dict[str, Any]:
    document: dict[str, Any] = cfn_yaml.loads(TEMPLATE.read_text())
    return document


def client(moto: MotoServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=moto.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_every_sample_is_either_delivered_or_filtered() -> None:
    assert {path.stem for path in SAMPLES.glob("*.json")} == DELIVERED | FILTERED


def test_the_template_passes_cfn_lint() -> None:
    from cfnlint.api import lint_all

    problems = [str(m) for m in lint_all(TEMPLATE.read_text()) if m.rule.id.startswith(("E", "W"))]
    assert problems == [], "errors and warnings (informational advice aside)"


def test_the_templates_patterns_are_the_shared_pattern_files() -> None:
    rules = {
        name: resource["Properties"]["EventPattern"]
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule"
    }
    by_file = {"EcrEventsRule": "ecr-events", "EcrApiCallsRule": "ecr-api-calls", "KmsApiCallsRule": "kms-api-calls"}
    assert set(rules) == set(by_file) and set(PATTERNS) == set(by_file.values())
    for rule, pattern_file in by_file.items():
        assert json.loads(json.dumps(rules[rule])) == PATTERNS[pattern_file], rule


def test_the_consumer_policy_is_the_same_everywhere() -> None:
    [statement] = CONSUMER_POLICY["Statement"]
    actions = statement["Action"]
    assert sorted(actions) == ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    [in_template] = template()["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert in_template["Action"] == actions and in_template["Sid"] == statement["Sid"]
    main = (AWS_DIR / "terraform" / "main.tf").read_text()
    assert 'file("${path.module}/../iam-events-queue-policy.json")' in main, "Terraform reads the actions from the file"


def test_the_terraform_module_reads_every_pattern_file_and_is_formatted() -> None:
    main = (AWS_DIR / "terraform" / "main.tf").read_text()
    read = set(re.findall(r'file\("\$\{path\.module\}/\.\./patterns/([\w-]+)\.json"\)', main))
    assert read == set(PATTERNS)
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: the formatting check needs it")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-diff", str(AWS_DIR / "terraform")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def stack(moto_server: MotoServer) -> Iterator[tuple[str, Any]]:
    moto_server.reset()
    client(moto_server, "iam").create_role(RoleName="ecr-operator", AssumeRolePolicyDocument="{}")
    name = f"ecr-operator-events-{uuid.uuid4().hex[:6]}"
    deployed = deploy_events_stack(
        moto_server.endpoint_url, REGION, stack_name=name, queue_name=name, operator_role_name="ecr-operator"
    )
    yield deployed.queue_url, client(moto_server, "sqs")


def test_the_template_deploys_a_queue_with_sse_retention_and_a_dead_letter_queue(
    moto_server: MotoServer, stack: tuple[str, Any]
) -> None:
    queue_url, sqs = stack
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["MessageRetentionPeriod"] == "86400"
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5 and redrive["deadLetterTargetArn"].endswith(
        f"{queue_url.rsplit('/')[-1]}-dlq"
    )
    events = client(moto_server, "events")
    rules = [r for r in events.list_rules()["Rules"] if r["Name"].startswith(queue_url.rsplit("/")[-1])]
    assert len(rules) == 3
    for rule in rules:
        [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == attributes["QueueArn"] and "RoleArn" not in target
        assert target["DeadLetterConfig"]["Arn"] == redrive["deadLetterTargetArn"]
    attached = client(moto_server, "iam").list_attached_role_policies(RoleName="ecr-operator")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == [f"{queue_url.rsplit('/')[-1]}-consumer"]


@pytest.mark.parametrize("name", sorted(DELIVERED | FILTERED))
def test_the_rules_deliver_what_the_operator_acts_on(
    moto_server: MotoServer, stack: tuple[str, Any], name: str
) -> None:
    queue_url, sqs = stack
    sample = json.loads((SAMPLES / f"{name}.json").read_text())
    answer = client(moto_server, "events").put_events(
        Entries=[
            {
                "Source": sample["source"],
                "DetailType": sample["detail-type"],
                "Detail": json.dumps(sample["detail"]),
                "Resources": sample["resources"],
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    if name in FILTERED:
        assert messages == []
        return
    [message] = messages
    delivered = parse(message["Body"])  # the body is the event exactly as the operator parses it
    assert (delivered.source, delivered.detail_type, dict(delivered.detail)) == (
        sample["source"],
        sample["detail-type"],
        sample["detail"],
    )
    assert (delivered.account, delivered.region) == ("123456789012", REGION), "moto's account, the bus's region"
    expected = classify(parse(json.dumps(sample)))
    decided = classify(delivered)
    assert type(decided) is type(expected)
    if isinstance(decided, Change) and isinstance(expected, Change):
        assert (decided.kind, decided.action) == (expected.kind, expected.action)


def test_the_forwarder_mode_makes_only_rules_and_their_role(moto_server: MotoServer) -> None:
    moto_server.reset()
    central = "arn:aws:sqs:ap-southeast-2:999988887777:ecr-operator-events"
    cloudformation = client(moto_server, "cloudformation")
    cloudformation.create_stack(
        StackName="forwarder",
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": "TargetQueueArn", "ParameterValue": central}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    assert cloudformation.describe_stacks(StackName="forwarder")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    kinds = {
        r["ResourceType"] for r in cloudformation.list_stack_resources(StackName="forwarder")["StackResourceSummaries"]
    }
    # moto lists the resources it does not model (the queue policy) without a type, whatever their condition.
    assert kinds - {""} == {"AWS::Events::Rule", "AWS::IAM::Role"}
    assert client(moto_server, "sqs").list_queues().get("QueueUrls", []) == []
    events = client(moto_server, "events")
    role = client(moto_server, "iam").get_role(RoleName="ecr-operator-events-forwarder")["Role"]["Arn"]
    for rule in events.list_rules()["Rules"]:
        [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert (target["Arn"], target["RoleArn"]) == (central, role)
