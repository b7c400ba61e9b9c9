"""The upstream registries a pull through cache rule may name, their URLs and how ECR authenticates to them.

From AWS's API reference (``upstreamRegistryUrl`` of CreatePullThroughCacheRule) and the user guide ("Sync an
upstream registry with an Amazon ECR private registry"): ECR Public, Kubernetes and Quay need no credentials;
Docker Hub, GitHub, GitLab, Azure and Chainguard need a Secrets Manager secret; an ECR upstream needs an IAM role
when it belongs to another account. The names are the model's ``UpstreamRegistry`` enum (a test keeps the two
equal).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Auth(enum.Enum):
    NONE = "none"
    SECRET = "secret"  # credentialArn: a Secrets Manager secret named ecr-pullthroughcache/...
    ROLE = "role"  # customRoleArn: an IAM role, required when the upstream registry is in another account


@dataclass(frozen=True)
class Upstream:
    name: str
    url: re.Pattern[str]
    auth: Auth

    def account_of(self, url: str) -> str | None:
        """The AWS account of an ECR upstream's URL (``<account>.dkr.ecr.<region>.amazonaws.com``)."""
        match = self.url.fullmatch(url)
        return match.groupdict().get("account") if match else None


UPSTREAMS: tuple[Upstream, ...] = (
    Upstream("ecr", re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"), Auth.ROLE),
    Upstream("ecr-public", re.compile(r"public\.ecr\.aws"), Auth.NONE),
    Upstream("quay", re.compile(r"quay\.io"), Auth.NONE),
    Upstream("k8s", re.compile(r"registry\.k8s\.io"), Auth.NONE),
    Upstream("docker-hub", re.compile(r"registry-1\.docker\.io"), Auth.SECRET),
    Upstream("github-container-registry", re.compile(r"ghcr\.io"), Auth.SECRET),
    Upstream("gitlab-container-registry", re.compile(r"registry\.gitlab\.com"), Auth.SECRET),
    Upstream("azure-container-registry", re.compile(r"[a-z0-9]+\.azurecr\.io"), Auth.SECRET),
    # Not in the API reference's URL list; Chainguard's registry host.
    Upstream("chainguard", re.compile(r"cgr\.dev"), Auth.SECRET),
)

BY_NAME = {upstream.name: upstream for upstream in UPSTREAMS}


def resolve(url: str, name: str | None) -> Upstream | None:
    """The upstream registry ``url`` belongs to (the one ``name`` says, if given), or None if it is unsupported."""
    if name is None:
        return next((upstream for upstream in UPSTREAMS if upstream.url.fullmatch(url)), None)
    upstream = BY_NAME.get(name)
    return upstream if upstream is not None and upstream.url.fullmatch(url) else None
